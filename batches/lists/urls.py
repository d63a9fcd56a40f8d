"""Recipient-list pages. No namespace: the navigation in base.html names "lists"."""

from django.urls import path

from batches.lists import views

urlpatterns = [
    path("lists/", views.list_index, name="lists"),
    path("lists/<int:pk>/", views.list_detail, name="list-detail"),
    path("lists/<int:pk>/progress/", views.list_progress, name="list-progress"),
    path("lists/<int:pk>/upload/", views.list_upload, name="list-upload"),
    path("lists/<int:pk>/delete/", views.list_delete, name="list-delete"),
]
