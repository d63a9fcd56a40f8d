from django.urls import path

from sending import views_tracking

# Links inside the mail we send (included at "t/"): the signed token is the only authority.
urlpatterns = [
    path("o/<str:token>", views_tracking.open_pixel, name="track-open"),
    path("c/<str:token>", views_tracking.click, name="track-click"),
    path("u/<str:token>", views_tracking.unsubscribe, name="track-unsubscribe"),
]
