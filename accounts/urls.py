from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    # Signing in and out (logout is a POST form in the header)
    path("login/", views.RateLimitedLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # API keys
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/new/", views.api_key_create, name="api-keys-create"),
    path("api-keys/<int:pk>/disable/", views.api_key_disable, name="api-key-disable"),
    path("api-keys/<int:pk>/enable/", views.api_key_enable, name="api-key-enable"),
    path("api-keys/<int:pk>/delete/", views.api_key_delete, name="api-key-delete"),
    # Pages still to come: each later issue replaces its line with the real page
    # (sender addresses, templates, blacklist and the send log are in sending.urls; batch send and
    # the queue status in batches.urls, recipient lists in batches.lists.urls; statistics in stats.urls)
]
