"""Every URL of the project, plus POST /bench/baseline (the admission benchmark's baseline)."""

from django.urls import path

from bench.site.views import baseline
from sesconsole.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/baseline", baseline), *project_urlpatterns]
