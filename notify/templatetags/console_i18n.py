"""Filters that show texts the engine stored in English in the reader's language."""

from django import template

from notify.texts import translate_pause_reason

register = template.Library()


@register.filter
def pause_reason(text: str) -> str:
    """A batch task's pause reason ("mail.example.com reached its daily cap of 500") translated."""
    return translate_pause_reason(text)
