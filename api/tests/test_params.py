"""The typed parameter reader every action uses: one table of inputs and the error each gets."""

import pytest

from api.errors import ApiError
from api.params import Params


def code_of(read) -> str:
    with pytest.raises(ApiError) as excinfo:
        read()
    return excinfo.value.code


@pytest.mark.parametrize("data, read, code", [
    ({}, lambda p: p.string("Name"), "MissingParameter"),
    ({"Name": None}, lambda p: p.string("Name"), "MissingParameter"),
    ({"Name": 5}, lambda p: p.string("Name"), "InvalidParameter"),
    ({"Name": "x" * 11}, lambda p: p.string("Name", max_length=10), "InvalidParameterValue"),
    ({"Name": ""}, lambda p: p.string("Name", required=False), "InvalidParameterValue"),
    ({"N": True}, lambda p: p.integer("N"), "InvalidParameter"),
    ({"N": 1.0}, lambda p: p.integer("N"), "InvalidParameter"),
    ({"N": 0}, lambda p: p.integer("N", minimum=1), "InvalidParameterValue"),
    ({"N": 11}, lambda p: p.integer("N", maximum=10), "InvalidParameterValue"),
    ({"N": 3}, lambda p: p.integer("N", choices=(0, 1)), "InvalidParameterValue"),
    ({"B": 1}, lambda p: p.boolean("B"), "InvalidParameter"),
    ({"B": "true"}, lambda p: p.boolean("B"), "InvalidParameter"),
    ({"L": "a@b.c"}, lambda p: p.array("L", of=str), "InvalidParameter"),
    ({"L": ["a", 2]}, lambda p: p.array("L", of=str), "InvalidParameter"),
    ({"L": []}, lambda p: p.array("L", of=str), "MissingParameter"),
    ({"L": ["a"] * 51}, lambda p: p.array("L", of=str, max_items=50), "InvalidParameterValue"),
    ({"M": []}, lambda p: p.mapping("M"), "InvalidParameter"),
])
def test_each_bad_value_gets_its_error_code(data, read, code):
    assert code_of(lambda: read(Params(data))) == code


def test_messages_name_the_parameter():
    with pytest.raises(ApiError) as excinfo:
        Params({"Emails": ["a@b.c", 7]}).array("Emails", of=str)

    assert "Emails.1" in excinfo.value.message


def test_optional_parameters_fall_back_to_their_defaults():
    p = Params({"Given": 3})

    assert p.integer("Given", required=False, default=1) == 3
    assert p.integer("Absent", required=False, default=1) == 1
    assert p.string("Absent", required=False) is None
    assert p.boolean("Absent", required=False, default=False) is False
    assert p.array("Absent", of=int, required=False) is None
    assert p.array("Given2", of=int, required=False) is None


def test_good_values_come_back_as_given():
    p = Params({"S": "x", "I": 0, "B": False, "L": [1, 2], "M": {"k": "v"}})

    assert (p.string("S"), p.integer("I"), p.boolean("B"), p.array("L", of=int), p.mapping("M")) == (
        "x", 0, False, [1, 2], {"k": "v"}
    )
