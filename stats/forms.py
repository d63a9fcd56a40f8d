"""The statistics filters: what a person chose, checked against their own account's choices."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from stats import queries

DEFAULT_DAYS = 30
# The console may show more than the API's 90 days, but not so much that one page is slow.
MAX_DAYS = 366


def default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 30 days, today included."""
    today = today or timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


class StatsFilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    domain = forms.ChoiceField(label="Sender domain", required=False)
    mailbox_type = forms.ChoiceField(
        label="Receiving mailbox type", required=False, help_text="The recipient's domain, e.g. gmail.com."
    )

    def __init__(self, account, data=None):
        start, end = default_range()
        # An empty query string means "the defaults", so a bare /stats/ is a valid, bound form.
        merged = {"start": start.isoformat(), "end": end.isoformat(), "domain": "", "mailbox_type": ""}
        merged.update({key: value for key, value in (data or {}).items() if value})
        super().__init__(merged)
        # Choices come from the account only: another account's domain is not a valid choice.
        self.fields["domain"].choices = [("", "All domains")] + [(n, n) for n in queries.domain_names(account)]
        self.fields["mailbox_type"].choices = [("", "All mailbox types")] + [
            (t, t) for t in queries.mailbox_types(account)
        ]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date must not be after the end date.")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def filters(self) -> dict:
        """Keyword arguments for stats.queries (call after is_valid())."""
        data = self.cleaned_data
        return {
            "start": data["start"],
            "end": data["end"],
            "domain": data["domain"] or None,
            "mailbox_type": data["mailbox_type"] or None,
        }
