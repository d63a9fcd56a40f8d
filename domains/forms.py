from django import forms
from django.core.validators import MinValueValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from domains.reputation import levels
from domains.services import DKIM_BITS


class DomainForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Domain name"), max_length=253, help_text=gettext_lazy("The domain your mail is sent from, e.g. mail.example.com.")
    )
    # The API's DKIMOption (domains.services.DKIM_BITS): 0 is a 1024-bit key, 1 a 2048-bit key.
    dkim_option = forms.TypedChoiceField(
        label=gettext_lazy("DKIM key length"), choices=[(opt, format_lazy(gettext_lazy("{bits}-bit"), bits=bits)) for opt, bits in DKIM_BITS.items()], coerce=int,
        initial=0,
        help_text=gettext_lazy("2048-bit keys are stronger; a few DNS hosts cannot publish their longer TXT record."),
    )


class WorkOrderForm(forms.Form):
    # Its minimum comes from the level table in settings (see __init__).
    requested_cap = forms.IntegerField(label=gettext_lazy("Requested daily cap"))
    reason = forms.CharField(label=gettext_lazy("Why you need it"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        top_cap = levels.cap_for(levels.top_level())
        field = self.fields["requested_cap"]
        field.validators.append(MinValueValidator(top_cap + 1, f"Ask for more than {top_cap:,} messages a day."))
        field.widget.attrs["min"] = top_cap + 1
        field.help_text = f"Messages a day; more than {top_cap:,}."
