"""The one definition of unusable characters (core/unusable.py), boundary by boundary. Pure."""

import pytest

from core import unusable


@pytest.mark.parametrize(("char", "refused"), [
    ("\x00", True), ("\x08", True), ("\t", False), ("\n", False), ("\x0b", True), ("\x0c", True), ("\r", False),
    ("\x0e", True), ("\x1f", True), (" ", False), ("~", False), ("\x7f", True), ("\x80", True), ("\x85", True),
    ("\x9f", True), ("\xa0", False), ("\ud7ff", False), ("\ud800", True), ("\udfff", True), ("\ue000", False),
    ("\ufdcf", False), ("\ufdd0", True), ("\ufdef", True), ("\ufdf0", False), ("\ufeff", False), ("\ufffd", False),
    ("\ufffe", True), ("\uffff", True), ("\U00010000", False), ("\U0001fffd", False), ("\U0001fffe", True),
    ("\U0010fffd", False), ("\U0010ffff", True), ("\u2028", False), ("\u202e", False), ("😀", False),
])
def test_each_boundary_of_the_definition(char, refused):
    assert (unusable.first(f"ab{char}") == 2) is refused


def test_the_first_one_is_found_in_document_order_keys_before_their_values():
    data = {"A": "ok", "B": [{"x": "fine", "y\x01": "z\x02"}, "\x03"], "C": "\x04"}

    found = unusable.find(data)

    assert (found.path, found.index, found.char, found.in_key) == (("B", 0, "y\x01"), 1, "\x01", True)
    assert found.name() == "B.0.y\\u0001"
    assert unusable.find({"A": ["ok", "a\x7fb"]}) == unusable.Found(("A", 1), 1, "\x7f")
    assert unusable.find({"A": [1, True, None, 2.5, {"B": "ok"}]}) is None


def test_nesting_deeper_than_python_recursion_is_searched():
    deep: object = "bottom\x00"
    for _ in range(5000):
        deep = [deep]

    found = unusable.find({"X": deep})

    assert found is not None and found.path[0] == "X" and len(found.path) == 5001
    assert len(found.name()) <= 121


def test_a_name_is_shown_escaped_and_clipped():
    assert unusable.shown("a\x00b\ud800\U0010ffff") == "a\\u0000b\\ud800\\U0010ffff"
    assert unusable.clipped("x" * 50) == "x" * 50
    assert unusable.clipped("a" * 100 + "b" * 100) == "a" * 60 + "…" + "b" * 60
    assert unusable.code_point("\x00") == "U+0000" and unusable.code_point("\U0010ffff") == "U+10FFFF"
