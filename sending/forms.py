"""Console forms for sending: they parse what a person typed; the rules are in sending.services."""

from __future__ import annotations

import json
import re

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from domains.models import SenderDomain
from sending.models import SenderAddress, Suppression

# SendEmail takes at most 50 Destination addresses (SPEC §4, the SDK's limit).
MAX_TEST_RECIPIENTS = 50
_RECIPIENT_SEPARATORS = re.compile(r"[,;\s]+")


class SenderAddressForm(forms.Form):
    """An address is a local part on one of the account's verified domains, never a free-typed domain."""

    local_part = forms.CharField(
        label=gettext_lazy("Address"), max_length=64, help_text=gettext_lazy("The part before the @, e.g. noreply or news.")
    )
    domain = forms.ModelChoiceField(label=gettext_lazy("Domain"), queryset=SenderDomain.objects.none(), empty_label=None)
    display_name = forms.CharField(
        label=gettext_lazy("Display name"), max_length=100, required=False, help_text=gettext_lazy("Shown as the sender's name, e.g. Alice Co.")
    )

    def __init__(self, account, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Scoped here, so another account's domain id is "not one of the choices".
        self.fields["domain"].queryset = SenderDomain.objects.filter(
            account=account, status=SenderDomain.VERIFIED
        ).order_by("name")

    def clean_local_part(self) -> str:
        local = self.cleaned_data["local_part"].strip()
        if "@" in local:
            raise forms.ValidationError(_("Type only the part before the @; choose the domain from the list."))
        if not local or any(ch.isspace() for ch in local):
            raise forms.ValidationError(_("The address must not contain spaces."))
        return local

    @property
    def email_address(self) -> str:
        return f"{self.cleaned_data['local_part']}@{self.cleaned_data['domain'].name}"


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    subject = forms.CharField(
        label=gettext_lazy("Subject"), max_length=500, help_text=gettext_lazy("{{variable}} placeholders are filled in at send time.")
    )
    html = forms.CharField(
        label=gettext_lazy("HTML"), required=False, widget=forms.Textarea(attrs={"rows": 12, "class": "code"}),
        help_text=gettext_lazy("Scripts never run in mail clients or in the preview here."),
    )
    text = forms.CharField(
        label=gettext_lazy("Plain text"), required=False, widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
    )
    transactional = forms.BooleanField(
        label=gettext_lazy("Transactional"), required=False,
        help_text=gettext_lazy("Receipts, password resets and the like: no unsubscribe link is expected."),
    )

    def clean(self):
        data = super().clean()
        if not (data.get("html") or "").strip() and not (data.get("text") or "").strip():
            raise forms.ValidationError(_("A template needs an HTML part, a plain-text part, or both."))
        return data


class SendForm(forms.Form):
    from_address = forms.ChoiceField(label=gettext_lazy("From"))
    recipients = forms.CharField(
        label=gettext_lazy("Recipients"), widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Up to %(MAX_TEST_RECIPIENTS)s addresses, separated by commas or new lines.") % {"MAX_TEST_RECIPIENTS": MAX_TEST_RECIPIENTS},
    )
    template_data = forms.CharField(
        label=gettext_lazy("Template variables (JSON)"), required=False, initial="{}",
        widget=forms.Textarea(attrs={"rows": 4, "class": "code"}),
        help_text=gettext_lazy('A JSON object of strings, e.g. {"name": "Ann"}.'),
    )

    def __init__(self, account, *args, **kwargs):
        super().__init__(*args, **kwargs)
        addresses = SenderAddress.objects.filter(account=account).order_by("email")
        self.fields["from_address"].choices = [(a.email, str(a)) for a in addresses]

    def clean_recipients(self) -> list[str]:
        recipients = [r for r in _RECIPIENT_SEPARATORS.split(self.cleaned_data["recipients"]) if r]
        if not recipients:
            raise forms.ValidationError(_("Enter at least one recipient."))
        if len(recipients) > MAX_TEST_RECIPIENTS:
            raise forms.ValidationError(
                _("At most %(MAX_TEST_RECIPIENTS)s recipients per send; you entered %(count)s.") % {"MAX_TEST_RECIPIENTS": MAX_TEST_RECIPIENTS, "count": len(recipients)}
            )
        return recipients

    def clean_template_data(self) -> str:
        raw = (self.cleaned_data.get("template_data") or "").strip() or "{}"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(msg)s (line %(lineno)s, column %(colno)s).") % {"msg": exc.msg, "lineno": exc.lineno, "colno": exc.colno}) from None
        if not isinstance(data, dict):
            raise forms.ValidationError(_('Template variables must be a JSON object, e.g. {"name": "Ann"}.'))
        # The service checks the values (no HTML, strings only) exactly as for the API's TemplateData.
        return raw


class BlacklistFilterForm(forms.Form):
    reason = forms.ChoiceField(
        label=gettext_lazy("Show"), required=False, choices=[("", gettext_lazy("All")), *Suppression.REASONS],
    )
    q = forms.CharField(label=gettext_lazy("Address contains"), required=False, max_length=254)


class SendLogFilterForm(forms.Form):
    day = forms.DateField(
        label=gettext_lazy("Day"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The platform day the message was counted on."),
    )
    message_id = forms.CharField(label=gettext_lazy("MessageId"), required=False, max_length=64)
    recipient = forms.CharField(label=gettext_lazy("Recipient"), required=False, max_length=254)
