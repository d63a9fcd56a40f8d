"""Typed reading of an action's JSON parameters, so every action validates the same way.

    p.string("EmailIdentity")                      # required, non-empty str
    p.integer("Limit", required=False, default=20, minimum=1, maximum=100)
    p.boolean("NewAPI", required=False)
    p.array("Emails", of=str, max_items=50)
    p.mapping("Template")

A missing required parameter is MissingParameter naming it; a value of the wrong JSON type is
InvalidParameter; a value out of range is InvalidParameterValue. JSON `null` counts as missing,
because the SDK leaves unset fields out and other clients send null for them.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from api.errors import INVALID_PARAMETER, INVALID_PARAMETER_VALUE, MISSING_PARAMETER, ApiError

_TYPE_NAMES = {
    str: gettext_lazy("a string"), int: gettext_lazy("an integer"), bool: gettext_lazy("a boolean"),
    dict: gettext_lazy("an object"), list: gettext_lazy("an array"),
}
_MISSING = object()
# The API's integers are the SDK's Integer (int64), and the widest integer column is a bigint.
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1


def _is(value: Any, kind: type) -> bool:
    # bool is an int in Python but not in JSON: True must not pass for 1.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class Params:
    def __init__(self, data: dict[str, Any]):
        self.data = data

    def _get(self, name: str, required: bool, default: Any) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise ApiError(MISSING_PARAMETER, _("The parameter %(name)s is required.") % {"name": name})
            return _MISSING if default is None else default
        return value

    def _typed(self, name: str, kind: type, required: bool, default: Any) -> Any:
        value = self._get(name, required, default)
        if value is _MISSING:
            return None
        if not _is(value, kind):
            raise ApiError(INVALID_PARAMETER, _("The parameter %(name)s must be %(value)s.") % {"name": name, "value": _TYPE_NAMES[kind]})
        return value

    def string(
        self, name: str, *, required: bool = True, default: str | None = None,
        max_length: int | None = None, allow_empty: bool = False,
    ) -> str | None:
        value = self._typed(name, str, required, default)
        if value is None:
            return None
        if not allow_empty and not value.strip():
            if required:
                raise ApiError(MISSING_PARAMETER, _("The parameter %(name)s is required and must not be empty.") % {"name": name})
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s must not be empty.") % {"name": name})
        if max_length is not None and len(value) > max_length:
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s is longer than %(max_length)s characters.") % {"name": name, "max_length": max_length})
        return value

    def integer(
        self, name: str, *, required: bool = True, default: int | None = None,
        minimum: int | None = None, maximum: int | None = None, choices: tuple[int, ...] | None = None,
    ) -> int | None:
        value = self._typed(name, int, required, default)
        if value is None:
            return None
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            # Python's ints have no end; the database's do (an OFFSET or id past them is an overflow).
            raise ApiError(
                INVALID_PARAMETER_VALUE,
                _("The parameter %(name)s is out of range (a 64-bit integer).") % {"name": name},
            )
        if choices is not None and value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s must be one of %(allowed)s.") % {"name": name, "allowed": allowed})
        if minimum is not None and value < minimum:
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s must be at least %(minimum)s.") % {"name": name, "minimum": minimum})
        if maximum is not None and value > maximum:
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s must be at most %(maximum)s.") % {"name": name, "maximum": maximum})
        return value

    def boolean(self, name: str, *, required: bool = True, default: bool | None = None) -> bool | None:
        return self._typed(name, bool, required, default)

    def mapping(self, name: str, *, required: bool = True) -> dict | None:
        return self._typed(name, dict, required, None)

    def array(
        self, name: str, *, of: type, required: bool = True,
        min_items: int = 0, max_items: int | None = None,
    ) -> list | None:
        value = self._typed(name, list, required, None)
        if value is None:
            return None
        for index, item in enumerate(value):
            if not _is(item, of):
                raise ApiError(
                    INVALID_PARAMETER, _("The parameter %(name)s.%(index)s must be %(value)s.") % {"name": name, "index": index, "value": _TYPE_NAMES[of]}
                )
        if required and not value and min_items == 0:
            min_items = 1
        if len(value) < min_items:
            raise ApiError(MISSING_PARAMETER if not value else INVALID_PARAMETER_VALUE,
                           _("The parameter %(name)s needs at least %(min_items)s item(s).") % {"name": name, "min_items": min_items})
        if max_items is not None and len(value) > max_items:
            raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter %(name)s allows at most %(max_items)s items.") % {"name": name, "max_items": max_items})
        return value
