from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # The signed API is POST / (SPEC §6); a GET of / is the console.
    path("", include("api.urls")),
    path("", include("accounts.urls")),
    path("domains/", include("domains.urls")),
    path("admin/", admin.site.urls),
]
