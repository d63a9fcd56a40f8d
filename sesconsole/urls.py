from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # The signed API is POST / (SPEC §6); a GET of / is the console.
    path("", include("api.urls")),
    path("", include("accounts.urls")),
    path("", include("console.urls")),
    path("", include("sending.urls")),
    path("domains/", include("domains.urls")),
    path("", include("notify.urls")),
    path("", include("batches.urls")),
    path("", include("batches.lists.urls")),
    path("", include("stats.urls")),
    path("help/", include("domains.urls_help")),
    # Machine and public endpoints: MTA reports and webhook, the links inside our mail
    path("inbound/", include("sending.inbound.urls")),
    path("t/", include("sending.urls_tracking")),
    path("admin/", admin.site.urls),
    # The language switcher in the header posts here (django.views.i18n.set_language).
    path("i18n/", include("django.conf.urls.i18n")),
]
