"""Console forms for batch sending: they parse what a person chose; the rules are in batches.services."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from batches.models import BatchTask, ReceiverList
from domains.models import SenderDomain
from sending.models import SenderAddress, Template

# The unsubscribe links the platform can add (the SDK's Unsubscribe option); the rest of its twelve
# languages stay reachable through the API.
UNSUBSCRIBE_CHOICES = [(0, gettext_lazy("None (the template has its own link)")), (2, gettext_lazy("English")), (1, gettext_lazy("Simplified Chinese"))]


class BatchTaskForm(forms.Form):
    sender = forms.ModelChoiceField(label=gettext_lazy("From"), queryset=SenderAddress.objects.none(), empty_label=None)
    template = forms.ModelChoiceField(
        label=gettext_lazy("Template"), queryset=Template.objects.none(), empty_label=None,
        help_text=gettext_lazy("Only approved templates can be sent."),
    )
    receiver_list = forms.ModelChoiceField(
        label=gettext_lazy("Recipient list"), queryset=ReceiverList.objects.none(), empty_label=None,
        help_text=gettext_lazy("Only lists whose upload has finished."),
    )
    subject = forms.CharField(
        label=gettext_lazy("Subject"), max_length=500, required=False,
        help_text=gettext_lazy("Leave empty to use the template's subject. {{variable}} placeholders are filled per recipient."),
    )
    task_type = forms.TypedChoiceField(
        label=gettext_lazy("When"), choices=BatchTask.TYPES, coerce=int, initial=BatchTask.IMMEDIATE,
        widget=forms.RadioSelect,
    )
    begin_time = forms.DateTimeField(
        label=gettext_lazy("Begin at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=gettext_lazy("For timed and recurring tasks, in the platform's time zone."),
    )
    interval_hours = forms.IntegerField(
        label=gettext_lazy("Repeat every (hours)"), required=False, min_value=1, max_value=24 * 365,
        help_text=gettext_lazy("For recurring tasks."),
    )
    unsubscribe = forms.TypedChoiceField(label=gettext_lazy("Unsubscribe link"), choices=UNSUBSCRIBE_CHOICES, coerce=int, initial=0)

    def __init__(self, account, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Scoped here, so another account's id is "not one of the choices".
        self.fields["sender"].queryset = SenderAddress.objects.filter(
            account=account, domain__status=SenderDomain.VERIFIED
        ).order_by("email")
        self.fields["template"].queryset = Template.objects.filter(
            account=account, status=Template.APPROVED
        ).order_by("name")
        self.fields["receiver_list"].queryset = ReceiverList.objects.filter(
            account=account, status=ReceiverList.DONE
        ).order_by("name")
        self.fields["begin_time"].widget.attrs["min"] = timezone.localtime().strftime("%Y-%m-%dT%H:%M")

    def clean(self):
        data = super().clean()
        task_type = data.get("task_type")
        if task_type in (BatchTask.TIMED, BatchTask.RECURRING) and not data.get("begin_time"):
            self.add_error("begin_time", _("A timed or recurring task needs the time to begin."))
        if task_type == BatchTask.RECURRING and not data.get("interval_hours"):
            self.add_error("interval_hours", _("A recurring task needs the number of hours between rounds."))
        if task_type == BatchTask.IMMEDIATE:
            data["begin_time"] = data["interval_hours"] = None
        elif task_type == BatchTask.TIMED:
            data["interval_hours"] = None
        return data
