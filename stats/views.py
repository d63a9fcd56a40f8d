"""The statistics page and its CSV export: parse the filters, ask stats.queries, hand the figures on."""

from __future__ import annotations

import html

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET

from accounts.views import account_required
from core.csp import CHART_CSP
from domains.reputation import wording
from stats import charts, export, queries
from stats.forms import StatsFilterForm
from stats.queries import Totals

# Column titles of the page's table, in the order of stats.export.HEADER (the CSV is the same table).
# The page's titles are translated; the CSV keeps stats.export.HEADER in English (a data format).
COLUMNS = (
    _("Day"), _("Requested"), _("Sent"), _("Delivered"), _("Opened"), _("Clicked"), _("Bounced"),
    _("Unsubscribed"), _("Invalid"), _("Spam"), _("Other bounces"), _("Complaints"),
    *(wording.NAMES[rate] for rate in queries.RATES),  # each rate by its one name, as the charts say it
)


def _table_row(label: str, totals: Totals) -> list[str]:
    # The CSV's row (stats.export), so the page and the file cannot disagree.
    return export.row_cells(label, totals)


# Stand-ins for the markup between cells while the text is escaped (in one call for the whole table,
# rather than one per cell): control characters no cell holds (checked).
_CELL, _HEAD, _ROW = "\x00", "\x01", "\x02"


def _rows_html(rows: list[list[str]]) -> SafeString:
    """The table's <tr>s: the day a row header, numbers right-aligned. Built here rather than in the
    template, whose loop over ~500 cells cost more than everything else on the page."""
    # The cells are numbers we formatted; the label is a date or "total". Escaped all the same.
    if not rows:
        return mark_safe("")
    text = _ROW.join(row[0] + _HEAD + _CELL.join(row[1:]) for row in rows)
    if text.count(_CELL) + text.count(_HEAD) + text.count(_ROW) != sum(len(row) for row in rows) - 1:
        return _rows_html_cell_by_cell(rows)  # a cell holds a stand-in: no shortcut
    return mark_safe(
        '<tr><th scope="row">'
        + html.escape(text).replace(_CELL, '</td><td class="num">').replace(_HEAD, '</th><td class="num">')
        .replace(_ROW, '</td></tr>\n<tr><th scope="row">')
        + "</td></tr>\n"
    )


def _rows_html_cell_by_cell(rows: list[list[str]]) -> SafeString:
    return mark_safe("".join(
        f'<tr><th scope="row">{html.escape(row[0])}</th><td class="num">'
        + '</td><td class="num">'.join(map(html.escape, row[1:])) + "</td></tr>\n"
        for row in rows
    ))


# The table's header row in each language, built the first time that language asks for it.
_HEADERS: dict[str, SafeString] = {}


def _header_html() -> SafeString:
    language = get_language()
    header = _HEADERS.get(language)
    if header is None:
        header = _HEADERS[language] = mark_safe("<tr>" + "".join(
            f'<th scope="col"{"" if n == 0 else " class=\"num\""}>{html.escape(str(title))}</th>'
            for n, title in enumerate(COLUMNS)
        ) + "</tr>")
    return header


def _filter_form(request: HttpRequest) -> StatsFilterForm:
    return StatsFilterForm(request.account, request.GET)


@csp_override(CHART_CSP)
@require_GET
@account_required
def stats(request: HttpRequest) -> HttpResponse:
    # The domain is checked with the figures, in the same statement.
    form = StatsFilterForm(request.account, request.GET, check_domain=False)
    context: dict = {
        "form": form, "date_fields": [form["start"], form["end"]],
        "header_html": _header_html(),
    }
    figures = None
    if form.is_valid():
        # The figures, the select's mailbox types (unless checking a chosen type read them) and
        # whether the domain is the account's: one trip to the database.
        figures = queries.statistics_page(request.account, **form.filters(),
                                          with_mailbox_types=not form.mailbox_types_read)
        if figures.mailbox_types is not None:
            form.set_mailbox_types(figures.mailbox_types)
        if not figures.domain_known:
            form.reject_domain()  # another account's domain is as unknown as a typo
    if form.is_valid():
        filters = form.filters()
        daily = figures.daily
        total = Totals.sum(totals for _, totals in daily)
        context.update(
            filters=filters,
            rows_html=_rows_html([_table_row(day.isoformat(), totals) for day, totals in daily]),
            total_row_html=_rows_html([_table_row(export.TOTAL_LABEL, total)]),
            total=total,
            volume_chart=charts.figure_json(charts.volume_figure(daily)),
            rate_chart=charts.figure_json(charts.rate_figure(daily)),
            csv_query=urlencode({k: (v.isoformat() if hasattr(v, "isoformat") else v or "") for k, v in filters.items()}),
        )
    # A filter change asks for the results alone; a history restore needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        # htmx swaps only 2xx answers: the form's errors must come back as 200 to be seen.
        return render(request, "stats/stats.html#results", context)
    return render(request, "stats/stats.html", context, status=200 if form.is_valid() else 400)


# How many domains a suggestion list offers: enough to pick from, few enough to read.
SUGGESTIONS = 20


@require_GET
@account_required
def domain_suggestions(request: HttpRequest) -> HttpResponse:
    """The <option>s of the domain search box: the account's domains whose name contains what was typed."""
    typed = request.GET.get("domain", "")[:253]
    names = queries.domain_names(request.account, containing=typed, limit=SUGGESTIONS)
    return render(request, "stats/stats.html#domain-options", {"domain_options": names})


@require_GET
@account_required
def stats_csv(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        return HttpResponse(f"Bad filters: {errors}\n", status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    return StreamingHttpResponse(
        export.csv_lines(request.account, **filters),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename(**filters)}"'},
    )
