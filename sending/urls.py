"""Console pages for sending. URL names carry no namespace: the navigation in base.html names them."""

from django.urls import path

from sending import views

urlpatterns = [
    # Sender addresses
    path("addresses/", views.address_list, name="addresses"),
    path("addresses/<int:pk>/delete/", views.address_delete, name="address-delete"),
    # Templates: editor with review result, sandboxed preview, test send
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_create, name="template-create"),
    path("templates/<int:pk>/", views.template_edit, name="template-edit"),
    path("templates/<int:pk>/preview/", views.template_preview, name="template-preview"),
    path("templates/<int:pk>/send/", views.template_send, name="template-send"),
    path("templates/<int:pk>/delete/", views.template_delete, name="template-delete"),
    # Blacklist (suppressions)
    path("blacklist/", views.blacklist, name="blacklist"),
    path("blacklist/remove/", views.blacklist_remove, name="blacklist-remove"),
    # Send log
    path("log/", views.send_log, name="log"),
    path("log/<str:message_id>/", views.message_detail, name="log-message"),
]
