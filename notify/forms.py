from django import forms
from django.utils.translation import gettext_lazy


class CallbackEndpointForm(forms.Form):
    url = forms.CharField(label=gettext_lazy("Callback URL"), max_length=1000, help_text=gettext_lazy("http:// or https://; each message event is POSTed here as JSON."))
    enabled = forms.BooleanField(label=gettext_lazy("Send callbacks"), required=False, initial=True)
