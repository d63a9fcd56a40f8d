from django.urls import path

from domains import views

app_name = "domains"
urlpatterns = [
    path("", views.domain_list, name="list"),
    # One domain
    path("<int:pk>/", views.domain_detail, name="detail"),
    path("<int:pk>/check/", views.domain_check, name="check"),
    path("<int:pk>/work-order/", views.domain_work_order, name="work-order"),
    path("<int:pk>/delete/", views.domain_delete, name="delete"),
]
