"""Staff searches in Django admin that find addresses and domain names however they are typed.

Addresses and sender domains are stored with their domain as an IDNA A-label (`ann@xn--bcher-kva.example`,
core.addresses), and so are mailbox types. A person types the Unicode form (`bücher`,
`ann@bücher.example`): Django's search compares the raw text and would find nothing. An admin that
mixes in `IdnSearch` also runs its search with each word written as sending.services'
address_search_texts writes it, and shows the rows either search found. Rows stored as typed
(before addresses were stored as A-labels) are still found by the first search.
"""

from __future__ import annotations

from django.contrib import admin


def a_label_search_term(search_term: str) -> str | None:
    """The search term with each word's non-ASCII domain labels as IDNA A-labels; None when no word
    has such a form (the term searches as typed only)."""
    from core.addresses import address_search_texts

    words = search_term.split()
    converted = [address_search_texts(word)[-1] for word in words]
    return " ".join(converted) if converted != words else None


class IdnSearch(admin.ModelAdmin):
    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        converted = a_label_search_term(search_term)
        if converted is not None:
            more, more_duplicates = super().get_search_results(request, queryset, converted)
            found, may_have_duplicates = found | more, may_have_duplicates or more_duplicates
        return found, may_have_duplicates
