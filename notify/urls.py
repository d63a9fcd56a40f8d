from django.urls import path

from notify import views

app_name = "notify"
urlpatterns = [
    # Member notifications
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    # Event callbacks: settings and the delivery log
    path("callbacks/", views.callback_settings, name="callbacks"),
    path("callbacks/secret/", views.callback_rotate_secret, name="callbacks-secret"),
    path("callbacks/log/", views.callback_log, name="callback-log"),
    path("callbacks/log/<int:pk>/", views.callback_detail, name="callback-detail"),
]
