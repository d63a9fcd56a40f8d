"""The statistics filters: what a person chose, checked against their own account's choices."""

from __future__ import annotations

import datetime as dt
from html import escape

from django import forms
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from core.clock import platform_today
from stats import queries

DEFAULT_DAYS = 30
# The console may show more than the API's 90 days, but not so much that one page is slow.
MAX_DAYS = 366
ALL_TYPES = _("All mailbox types")


def default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 30 days, today included."""
    today = today or platform_today()
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


class StatsFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # A search box with suggestions rather than a <select>: an account may have a thousand domains,
    # and a thousand <option>s cost more to render than the rest of the page.
    domain = forms.CharField(
        label=_("Sender domain"), required=False, max_length=253,
        help_text=_("Type part of a domain name to see matching domains; leave empty for all."),
        # Rendered by templates/stats/stats.html with its suggestion list, not by the widget.
    )
    mailbox_type = forms.ChoiceField(
        label=_("Receiving mailbox type"), required=False, help_text=_(
            "The recipient's domain, e.g. gmail.com; “simulator”: mail to the mailbox simulator, which counts "
            "against the daily cap and is in no other figure or rate."
        ),
    )

    def __init__(self, account, data=None, *, check_domain: bool = True):
        self.account = account
        # check_domain=False: the caller checks the domain is the account's with its figures
        # (stats.queries.statistics_page) and calls reject_domain() when it is not.
        self.check_domain = check_domain
        start, end = default_range()
        # An empty query string means "the defaults", so a bare /stats/ is a valid, bound form.
        merged = {"start": start.isoformat(), "end": end.isoformat(), "domain": "", "mailbox_type": ""}
        merged.update({key: value for key, value in (data or {}).items() if value})
        super().__init__(merged)
        # Callable, so read only when needed (to draw the select, or to check a type that was chosen),
        # and once; the page may hand them over, read with its figures (set_mailbox_types).
        self._mailbox_types: list[str] | None = None
        self.fields["mailbox_type"].choices = lambda: [("", ALL_TYPES)] + [
            (t, t) for t in self.mailbox_types()
        ]

    def mailbox_types(self) -> list[str]:
        if self._mailbox_types is None:
            self._mailbox_types = queries.mailbox_types(self.account)
        return self._mailbox_types

    @property
    def mailbox_types_read(self) -> bool:
        return self._mailbox_types is not None

    def set_mailbox_types(self, types: list[str]) -> None:
        """The account's mailbox types, as stats.queries.mailbox_types lists them, read by the caller."""
        self._mailbox_types = list(types)

    def mailbox_type_options(self) -> SafeString:
        """The select's <option>s (the field's choices), the chosen one selected. Built here rather than
        by a template loop, which cost more than the rest of the filters."""
        chosen = self["mailbox_type"].data
        options = [("", str(ALL_TYPES))] + [(value, value) for value in self.mailbox_types()]
        return mark_safe("".join(
            f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(label)}</option>'
            for value, label in options
        ))

    def clean_mailbox_type(self) -> str:
        # One of the account's stored types (the ChoiceField checked it): used as stored, so a type
        # of older rows (`bücher.example`, before A-labels) is not turned into `xn--…` and missed.
        value = self.cleaned_data["mailbox_type"]
        return queries.StoredMailboxType(value) if value else ""

    def clean_domain(self) -> str:
        name = queries.domain_key(self.cleaned_data["domain"])  # a non-ASCII name as its IDNA A-label
        # Only the account's own domains: another account's domain is as unknown as a typo.
        if name and self.check_domain and not queries.has_domain(self.account, name):
            raise self._unknown_domain(name)
        return name

    @staticmethod
    def _unknown_domain(name: str) -> forms.ValidationError:
        return forms.ValidationError(
            forms.ChoiceField.default_error_messages["invalid_choice"], code="invalid_choice", params={"value": name},
        )

    def reject_domain(self) -> None:
        """The chosen domain is not the account's (found by the caller, with check_domain=False):
        the form becomes invalid with the error clean_domain would have given."""
        name = self.cleaned_data["domain"]
        self.add_error("domain", self._unknown_domain(name))

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
