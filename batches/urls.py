"""Console pages for batch sending. URL names carry no namespace: the navigation in base.html names them."""

from django.urls import path

from batches import views

urlpatterns = [
    # Batch tasks: list, create, progress, cancel
    path("batches/", views.task_list, name="batches"),
    path("batches/new/", views.task_create, name="batch-create"),
    path("batches/<int:pk>/", views.task_detail, name="batch-detail"),
    path("batches/<int:pk>/cancel/", views.task_cancel, name="batch-cancel"),
    # Queue status (SPEC §5), polled by htmx while anything moves
    path("queue/", views.queue, name="queue"),
]
