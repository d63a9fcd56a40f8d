from django.urls import path

from stats import views

urlpatterns = [
    # Statistics: the page (and its htmx partial) and the CSV of exactly what it shows
    path("stats/", views.stats, name="stats"),
    path("stats/export.csv", views.stats_csv, name="stats-csv"),
    path("stats/domains/", views.domain_suggestions, name="stats-domains"),
]
