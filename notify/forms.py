from django import forms


class CallbackEndpointForm(forms.Form):
    url = forms.CharField(label="Callback URL", max_length=1000, help_text="http:// or https://; each message event is POSTed here as JSON.")
    enabled = forms.BooleanField(label="Send callbacks", required=False, initial=True)
