"""Bad input, generated, against the signed API (issue 6): every action in the registry gets
properly TC3-signed requests whose bodies hypothesis makes up — wrong types, missing fields, huge
strings, control characters and NUL, nested junk, huge and negative numbers, extra fields, JSON that
is not an object — and must answer as the SDK expects: HTTP 200, exactly `application/json`, the
`Response` envelope with a RequestId, never InternalError; a refusal carries a code of the SES
error set and writes nothing (every table's row count and the rows a request could change are
compared before and after).

The actions are read from api.registry.ACTIONS, so a new module in api/actions/ is covered without
touching this file; each action's parameter names come from the official SDK's request model (and
the names its source reads), so the generated bodies use the names the action looks for.

Unusable characters (core.unusable: NUL, controls, lone surrogates, noncharacters) are not left to
chance (issue 12): every string parameter of every action, found in the SDK's request model with
its nested objects and arrays (string_parameters), gets a drawn one in an otherwise valid request,
and must be InvalidParameterValue naming that parameter; TemplateData, a JSON string parsed later,
gets one in a variable's name or value too.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import time
from pathlib import Path

import pytest
import tencentcloud.ses.v20201002.errorcodes as ses_errorcodes
import tencentcloud.ses.v20201002.models as ses_models
from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tencentcloud.common.abstract_model import AbstractModel

import api.actions  # noqa: F401  (registers every action)
from accounts.models import ApiKey
from api import errors as api_errors
from api.registry import ACTIONS
from api.tests.signing import post, signed_headers, tc3_signature
from batches.lists import importer
from batches.lists import services as list_services
from batches.models import BatchTask, ReceiverList
from core import unusable
from domains.models import SenderDomain
from sending import services as sending_services
from sending.models import SenderAddress, Suppression, Template

# --- what counts as a documented refusal ---------------------------------------------------------

# The SES SDK's error codes, and the common codes of the cloud API (authentication, request shape).
DOCUMENTED_CODES = {
    value for name, value in vars(ses_errorcodes).items() if name.isupper() and isinstance(value, str)
} | {value for name, value in vars(api_errors).items() if name.isupper() and isinstance(value, str)}
# Codes that mean the server broke, not that the request was bad.
SERVER_FAULTS = {"InternalError", "InternalError.QueryDataBaseFailed", "FailedOperation.ServiceNotAvailable"}

# SES_FUZZ_SCALE=10 runs ten times the examples, for a deeper search than CI's bounded run.
FUZZ_SCALE = float(os.environ.get("SES_FUZZ_SCALE", "1"))
HYPOTHESIS = settings(
    max_examples=round(8 * FUZZ_SCALE), deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the parameter names of each action ----------------------------------------------------------

_SOURCE_NAME = re.compile(r"""(?:\.(?:string|integer|boolean|mapping|array)\(|\.get\(|_date\(p,\s*|_parse_time\(p,\s*)\s*["']([A-Z][A-Za-z]+)["']""")


def _sdk_fields(model_name: str) -> list[str]:
    model = getattr(ses_models, model_name, None)
    if not (isinstance(model, type) and issubclass(model, AbstractModel)):
        return []
    return [name.lstrip("_") for name in vars(model())]


def _source_fields() -> set[str]:
    names: set[str] = set()
    for path in Path(api.actions.__file__).parent.glob("*.py"):
        names |= set(_SOURCE_NAME.findall(path.read_text()))
    return names


# Every name a nested object of the SDK may carry (Template, TimedParam, Datas…), plus what the
# actions' own source reads: the keys of generated nested objects.
NESTED_NAMES = sorted(
    {field for name in dir(ses_models) if not name.endswith(("Request", "Response")) for field in _sdk_fields(name)}
    | _source_fields()
)


def action_fields(name: str) -> list[str]:
    """The request's parameter names per the SDK; an action the SDK does not know gets every name."""
    return _sdk_fields(f"{name}Request") or NESTED_NAMES


_RTYPE = re.compile(r":rtype:\s*(?::class:`[\w.]*\.)?([\w ]+)`?")


def _sdk_types(model_name: str) -> dict[str, str]:
    """Each field of an SDK model with the type its property documents: "str", "list of str",
    "Template" (a nested model), "list of ReceiverInputData"…"""
    model = getattr(ses_models, model_name)
    types = {}
    for name in _sdk_fields(model_name):
        match = _RTYPE.search(getattr(model, name).__doc__ or "")
        if match:
            types[name] = match.group(1).strip()
    return types


def string_parameters(model_name: str, prefix: tuple = ()) -> list[tuple]:
    """The path of every string a request of the SDK's model can carry: ("Subject",),
    ("Destination", 0), ("Template", "TemplateData"), ("Datas", 0, "Email")."""
    paths = []
    for name, kind in _sdk_types(model_name).items():
        listed = kind.startswith("list of ")
        item = kind.removeprefix("list of ")
        path = (*prefix, name, 0) if listed else (*prefix, name)
        if item == "str":
            paths.append(path)
        elif isinstance(getattr(ses_models, item, None), type) and len(prefix) < 4:
            paths += string_parameters(item, path)
    return paths


def put(data: dict, path: tuple, value) -> dict:
    """A copy of `data` with `value` at `path`, the objects and arrays on the way made as needed."""
    data = copy.deepcopy(data)
    node = data
    for part, following in zip(path, path[1:], strict=False):
        kind = list if isinstance(following, int) else dict
        if isinstance(part, int):
            while len(node) <= part:
                node.append(kind())
            if not isinstance(node[part], kind):
                node[part] = kind()
        elif not isinstance(node.get(part), kind):
            node[part] = kind()
        node = node[part]
    if isinstance(path[-1], int):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value
    return data


# --- the database, before and after --------------------------------------------------------------

# Rows a refused request could change without adding or removing any (status, names, counters).
WATCHED = {
    SenderDomain: ("name", "status", "level", "dkim_bits", "dns_results", "custom_cap"),
    SenderAddress: ("email", "display_name"),
    Template: ("name", "subject", "html", "text", "status"),
    ReceiverList: ("name", "description", "status", "count", "invalid_count", "duplicate_count"),
    BatchTask: ("status", "request_count", "send_count", "cache_count", "err_msg"),
    Suppression: ("email", "reason"),
    ApiKey: ("secret_id", "enabled"),
}


# Counted for every request, refused or not (the rate limiter's windows), and recorded for every
# verified signature (api/replay.py, when the cache is not Redis): not a write of the request's.
BOOKKEEPING = {"accounts.RateCount", "accounts.AcceptedSignature"}


def db_snapshot() -> dict:
    """Every model's row count in one query, and the watched rows' values."""
    tables = sorted({model._meta.db_table for model in apps.get_models() if model._meta.managed and model._meta.label not in BOOKKEEPING})
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        counts = dict(zip(tables, cursor.fetchone(), strict=True))
    rows = {
        model.__name__: sorted(map(repr, model.objects.values_list("pk", *fields)))
        for model, fields in WATCHED.items()
    }
    return {"counts": counts, "rows": rows}


# --- the caller ----------------------------------------------------------------------------------


class World:
    """One account with something of everything, and its API key."""

    def __init__(self, client: Client, account, verified_domain):
        self.client = client
        self.key, self.secret_key = ApiKey.issue(account)
        self.domain = verified_domain
        self.sender = sending_services.create_sender_address(account, "news@mail.alice.example", "Alice News")
        self.template = sending_services.create_template(
            account, name="Welcome", subject="Hi {{name}}", html="<p>Hi {{name}}</p>", text="Hi {{name}}",
        )
        self.list = list_services.create_list(account, "Customers", "")
        importer.add_receivers(self.list, [("ann@example.com", {"name": "Ann"})])

    def send(self, action: str, body: bytes, **kwargs):
        headers = signed_headers(self.key.secret_id, self.secret_key, action, body)
        headers.update(kwargs.pop("headers", {}))
        return post(self.client, body, headers, **kwargs)

    def hints(self) -> dict[str, object]:
        """A valid value for the parameters whose name says what they are: with these in place, one
        generated value among them is what the action has to refuse (or accept)."""
        today = dt.date.today()
        tomorrow = f"{today + dt.timedelta(days=1)} 10:00:00"
        return {
            "EmailIdentity": self.domain.name, "FromEmailAddress": self.sender.email,
            "EmailAddress": self.sender.email, "EmailSenderName": "Alice", "Destination": ["ann@example.com"],
            "Template": {"TemplateID": self.template.pk, "TemplateData": '{"name": "Ann"}'},
            "TemplateID": self.template.pk, "TemplateName": "Fuzzed", "TemplateData": '{"name": "Ann"}',
            "TemplateContent": {"Html": "PGI+aGk8L2I+", "Text": "aGk="}, "Subject": "Hello",
            "ReceiverId": self.list.pk, "ReceiversName": "Fuzzed list", "Desc": "d", "Emails": ["cy@example.com"],
            "Datas": [{"Email": "cy@example.com", "TemplateData": '{"name": "Cy"}'}],
            "TaskType": 1, "TimedParam": {"BeginTime": tomorrow},
            "CycleParam": {"BeginTime": tomorrow, "IntervalTime": 24},
            "RequestDate": today.isoformat(), "StartDate": (today - dt.timedelta(days=3)).isoformat(),
            "EndDate": today.isoformat(), "Limit": 10, "Offset": 0, "DKIMOption": 0,
            "EmailAddressList": ["ann@example.com"], "Unsubscribe": "1",
        }

    def plausible(self) -> list:
        """Values that pass the first checks of some action, so generated bodies reach the deeper ones."""
        today = dt.date.today()
        return [
            self.template.pk, self.list.pk, 1, 0, 2, 3,
            self.domain.name, self.sender.email, f"Alice <{self.sender.email}>", "ann@example.com",
            today.isoformat(), (today - dt.timedelta(days=3)).isoformat(), f"{today + dt.timedelta(days=1)} 10:00:00",
            "1", "{}", '{"name": "Ann"}', "PGI+aGk8L2I+", "aGk=",
            [self.sender.email], ["ann@example.com", "bob@example.com"],
            {"TemplateID": self.template.pk, "TemplateData": '{"name": "Ann"}'},
            {"Html": "PGI+aGk8L2I+", "Text": "aGk="},
            {"BeginTime": f"{today + dt.timedelta(days=1)} 10:00:00", "IntervalTime": 24},
            [{"Email": "cy@example.com", "TemplateData": '{"name": "Cy"}'}],
        ]


@pytest.fixture
def world(client, account, verified_domain) -> World:
    return World(client, account, verified_domain)


# --- generated values ----------------------------------------------------------------------------

_odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40,
)
# Every unusable character (core.unusable), each kind drawn as often as the others; NUL first,
# so that a failure shrinks to it.
_CONTROLS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"]
_NONCHARACTERS = [chr(c) for c in range(0xFDD0, 0xFDF0)] + [chr(p + c) for p in range(0, 0x110000, 0x10000) for c in (0xFFFE, 0xFFFF)]
unusable_chars = st.one_of(
    st.sampled_from(_CONTROLS), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.sampled_from(_NONCHARACTERS),
)
_usable_text = st.text(alphabet=st.sampled_from("aZ0 .@_-é中😀\t"), max_size=4)
_control_text = st.text(alphabet=st.one_of(unusable_chars, st.sampled_from("\r\n\t\u2028\u202e\ufeff")), min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    _odd_text,
    st.builds(lambda a, b: a + b, _odd_text, _control_text),
    st.sampled_from(["", " ", "\x00", "a\x00b@example.com", "ann@example.com\x00", "../../etc/passwd",
                     "<script>alert(1)</script>", "' OR 1=1 --", "%s%n", "ｍａｉｌ.example", "😀@example.com",
                     "2026-02-30", "9999-12-31 23:59:59", "0000-00-00", "-1", "1e400", "NaN"]),
    st.integers(min_value=1, max_value=70_000).map(lambda n: "x" * n),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(NESTED_NAMES), _odd_text), inner, max_size=4),
    ),
    max_leaves=12,
)


def as_json(data) -> bytes:
    # UTF-8 as the SDK sends it; a lone surrogate, which has no UTF-8, as the \\u escape JSON has for it.
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "backslashreplace")


def bodies(world: World, action: str):
    fields = action_fields(action)
    hints = world.hints()
    plausible = st.sampled_from(world.plausible())

    def value(name: str):
        if name in hints:  # mostly the valid value, so the other fields' junk is what gets checked
            return st.one_of(st.just(hints[name]), st.just(hints[name]), st.just(hints[name]), plausible, junk)
        return st.one_of(plausible, junk)

    params = st.fixed_dictionaries(
        {},
        optional={name: value(name) for name in fields},
    )
    extra = st.dictionaries(st.one_of(_odd_text, st.sampled_from(NESTED_NAMES)), junk, max_size=3)
    objects = st.builds(lambda p, e: {**e, **p}, params, extra)
    # Every hinted field valid but one, which gets junk: what each check of the action must refuse.
    valid = {name: hints[name] for name in fields if name in hints}
    one_bad = st.builds(lambda name, bad: {**valid, name: bad}, st.sampled_from(fields), junk)
    non_objects = st.one_of(
        st.lists(junk, max_size=3), scalars, st.just([fields]),
    )
    return st.one_of(one_bad, one_bad, objects, objects, non_objects).map(
        lambda data: as_json(data)
    )


def check_envelope(response) -> dict:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()["Response"]
    assert data["RequestId"]
    return data


def assert_refusal_is_documented(data: dict) -> None:
    code = data["Error"]["Code"]
    assert code not in SERVER_FAULTS, data
    assert code in DOCUMENTED_CODES, data
    assert data["Error"]["Message"].strip(), data


# --- the tests -----------------------------------------------------------------------------------


def test_every_registered_action_is_generated_against():
    # The parametrisation below comes from the registry; this guards against an empty registry.
    assert {"SendEmail", "CreateEmailIdentity", "BatchSendEmail", "CreateReceiverDetailWithData"} <= set(ACTIONS)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_generated_bodies_get_the_envelope_and_refusals_write_nothing(world, action):
    # First the empty object, the request with every parameter missing.
    before = db_snapshot()
    data = check_envelope(world.send(action, b"{}"))
    if "Error" in data:
        assert_refusal_is_documented(data)
        assert db_snapshot() == before

    @HYPOTHESIS
    @given(body=st.data())
    def run(body):
        raw = body.draw(bodies(world, action), label="body")
        # Each example starts from the same world: what an accepted request wrote is rolled back.
        with transaction.atomic():
            before = db_snapshot()
            data = check_envelope(world.send(action, raw))
            if "Error" in data:
                assert_refusal_is_documented(data)
                assert db_snapshot() == before, (raw[:500], data)
            transaction.set_rollback(True)

    run()


# --- unusable characters in every string parameter ------------------------------------------------

# Every action's string parameters, from the SDK's model of its request.
STRING_PARAMETERS = {action: string_parameters(f"{action}Request") for action in sorted(ACTIONS)}
# The JSON strings an action parses again: an unusable character may hide in their own JSON.
JSON_STRINGS = {"TemplateData"}
# Each example already names the parameter and the character it failed on: no shrinking, which
# would repeat the example's dozens of requests.
UNUSABLE_HYPOTHESIS = settings(
    HYPOTHESIS, max_examples=max(1, round(2 * FUZZ_SCALE)), phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def test_every_action_has_its_string_parameters_from_the_sdk():
    assert ("Subject",) in STRING_PARAMETERS["SendEmail"]
    assert ("Template", "TemplateData") in STRING_PARAMETERS["SendEmail"]
    assert ("Destination", 0) in STRING_PARAMETERS["SendEmail"]
    assert ("Datas", 0, "Email") in STRING_PARAMETERS["CreateReceiverDetailWithData"]
    assert ("MessageId",) in STRING_PARAMETERS["GetSendEmailStatus"]
    assert ("KeyWord",) in STRING_PARAMETERS["ListReceivers"]
    # An action with no string parameter in the SDK still gets one in an extra field.
    assert all(action in STRING_PARAMETERS for action in ACTIONS)


def _name(path: tuple) -> str:
    return ".".join(map(str, path))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_unusable_character_in_any_string_parameter_is_invalid_parameter_value_naming_it(world, action, settings):
    """Each example puts a drawn unusable character, between drawn usable text, into every string
    parameter of the action in turn, the others valid, plus a field the SDK does not have."""
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "api_secret_id": (10**6, 60)}  # a burst, not a test of limits
    fields = action_fields(action)
    valid = {name: value for name, value in world.hints().items() if name in fields}
    paths = [*STRING_PARAMETERS[action], ("NotAnSdkField",)]

    def refused(body: dict) -> dict:
        data = check_envelope(world.send(action, as_json(body)))
        assert "Error" in data, (body, data)
        assert_refusal_is_documented(data)
        return data

    @UNUSABLE_HYPOTHESIS
    @given(data=st.data())
    def run(data):
        # One snapshot around all of the example's requests: a write by any of them stays until the end.
        before = db_snapshot()
        for path in paths:
            head = data.draw(_usable_text, label="before")
            char = data.draw(unusable_chars, label="char")
            text = head + char + data.draw(_usable_text, label="after")
            reply = refused(put(valid, path, text))
            where = f"parameter {_name(path)} contains {unusable.code_point(char)} (character {len(head) + 1})"
            assert reply["Error"]["Code"] == "InvalidParameterValue", (where, reply)
            assert where in reply["Error"]["Message"], reply
            if path[-1] in JSON_STRINGS:
                # In a variable's name or its value: the service that parses the JSON refuses it.
                as_name = data.draw(st.booleans(), label="in the name")
                inner = {text: "x"} if as_name else {"name": text}
                reply = refused(put(valid, path, json.dumps(inner)))
                assert reply["Error"]["Code"].startswith("InvalidParameterValue"), reply
                assert unusable.code_point(char) in reply["Error"]["Message"], reply
                if as_name:
                    assert unusable.shown(text) in reply["Error"]["Message"], reply
        assert db_snapshot() == before

    run()


# --- raw HTTP that is not a well-formed request --------------------------------------------------

BROKEN_BODIES = [
    b"", b"{", b"{}}", b"[", b'{"a":}', b"\xff\xfe{}", b"\x00", b"null", b"true", b"1", b'"x"', b"[]",
    b'{"EmailIdentity": "a"' + b" " * 10, b"{" * 100_000 + b"}" * 100_000, b"[" * 5000 + b"]" * 5000,
    '{"EmailIdentity": "\udcff"}'.encode("utf-8", "surrogatepass"), b'{"EmailIdentity": "\\ud800"}',
    b'{"EmailIdentity": "\\u0000"}', b'\xef\xbb\xbf{"EmailIdentity": "mail.bob.example"}', b"NaN", b'{"Limit": NaN}',
    b'{"Limit": Infinity}', b'{"Limit": 1e999}', b'{"Limit": ' + b"9" * 5000 + b"}",
]


def test_malformed_json_is_a_clear_refusal(world):
    # The body is read before any action runs: one action that writes stands for all of them.
    for raw in BROKEN_BODIES:
        before = db_snapshot()
        data = check_envelope(world.send("CreateEmailIdentity", raw))
        if "Error" in data:
            assert_refusal_is_documented(data)
            assert db_snapshot() == before, raw[:200]


@HYPOTHESIS
@given(raw=st.binary(max_size=300))
def test_generated_bytes_are_a_clear_refusal(world, raw):
    before = db_snapshot()
    data = check_envelope(world.send("CreateEmailIdentity", raw))
    assert_refusal_is_documented(data)
    assert db_snapshot() == before


def test_an_oversized_body_is_refused_before_it_is_read(world, settings):
    settings.SES_API_MAX_BODY_BYTES = 4096
    raw = json.dumps({"EmailIdentity": "mail.bob.example", "Pad": "x" * 10_000}).encode()
    before = db_snapshot()
    data = check_envelope(world.send("CreateEmailIdentity", raw))
    assert data["Error"]["Code"] == "RequestSizeLimitExceeded"
    assert db_snapshot() == before


CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "\x00"]


@pytest.mark.parametrize("signed", [False, True], ids=["signed-as-json", "signed-as-sent"])
def test_another_content_type_gets_the_envelope_and_a_refusal_writes_nothing(world, signed):
    """Signed as JSON but sent as another type, the signature does not match; signed as sent, the
    body is still read as the JSON it is. Either way the envelope, never an internal error."""
    raw = json.dumps({"Limit": "not a number"}).encode()
    for content_type in CONTENT_TYPES:
        headers = {}
        if signed:
            timestamp = int(time.time())
            date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
            signature = tc3_signature(world.secret_key, body=raw, timestamp=timestamp, date=date, content_type=content_type)
            headers = {"X-TC-Timestamp": str(timestamp), "Authorization": (
                f"TC3-HMAC-SHA256 Credential={world.key.secret_id}/{date}/ses/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={signature}"
            )}
        before = db_snapshot()
        data = check_envelope(world.send("ListEmailIdentities", raw, content_type=content_type, headers=headers))
        assert_refusal_is_documented(data)
        assert db_snapshot() == before, content_type


BAD_HEADERS = [
    {"Authorization": ""},
    {"Authorization": "TC3-HMAC-SHA256"},
    {"Authorization": "TC3-HMAC-SHA256 Credential=, SignedHeaders=, Signature="},
    {"Authorization": "TC3-HMAC-SHA256 Credential=" + "A" * 10_000},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "TC3-HMAC-SHA256 Credential=\u00e9\u00e9/2026-01-01/ses/tc3_request, SignedHeaders=content-type;host, Signature=zz"},
    {"X-TC-Timestamp": ""},
    {"X-TC-Timestamp": "not a number"},
    {"X-TC-Timestamp": "-1"},
    {"X-TC-Timestamp": "9" * 400},
    {"X-TC-Timestamp": "1e10"},
    {"X-TC-Version": ""},
    {"X-TC-Version": "\u00e9" * 1000},
    {"X-TC-Action": "\u00e9" * 1000},
    {"X-TC-Action": "../admin"},
    {"Host": ""},
    {"Content-Length": "-5"},
    {"Content-Length": "abc"},
]


def test_bad_headers_are_a_clear_refusal(world):
    raw = json.dumps({"EmailIdentity": "mail.bob.example"}).encode()
    for headers in BAD_HEADERS:
        before = db_snapshot()
        response = world.send("CreateEmailIdentity", raw, headers=headers)
        if response.status_code == 400:  # Django refuses a Host it does not allow before any view runs
            assert "Host" in headers
        else:
            data = check_envelope(response)
            assert_refusal_is_documented(data)
        assert db_snapshot() == before, headers
