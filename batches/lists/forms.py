"""Forms of the recipient-list pages: a new list with its CSV, and a CSV for an existing list."""

from django import forms
from django.utils.translation import gettext_lazy

from batches.lists import services

CSV_HELP = gettext_lazy(
    "UTF-8 (with or without BOM). First column: the address; a header row such as "
    "“email,name,code” names the template variables of the other columns."
)


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"), help_text=CSV_HELP)


class ListForm(UploadForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.MAX_NAME_LENGTH)
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=services.MAX_DESCRIPTION_LENGTH, required=False
    )

    field_order = ["name", "description", "file"]
