"""Moves: how often the path of one message crosses from one file of the project into another.

    .venv/bin/python bench/moves.py [--postgres postgres://postgres@127.0.0.1:5432] [--quiet-day] [--pairs]

Issue 13 asks to count "the moves between files on the path of one message" (SendEmail →
admission → reservation → queue → delivery → outcome → counters → upgrade check → notification)
before and after its refactoring. This script measures it on whatever code is importable, so the
same file runs on the old and the new house: it touches the project only through Django settings,
the HTTP API, models looked up with django.apps.apps.get_model, and Celery tasks looked up by name.

What it runs (nothing is mocked; every server is local and the script's own):
  - a scratch database: SQLite in a temporary folder (default), or with --postgres a PostgreSQL
    database sesconsole_moves_<pid> created on that server and dropped at the end; the embedded
    filesystem broker in the same temporary folder (the README's DATABASE_URL, CELERY_BROKER_URL
    and CACHE_URL are ignored, so the figures do not depend on them);
  - an aiosmtpd server on 127.0.0.1 that accepts everything (the relay: EMAIL_HOST/EMAIL_PORT),
    and an HTTP receiver for the account's event callbacks (SES_CALLBACK_ALLOW_PRIVATE_NETWORKS=1);
  - an account with an owner, an API key (ApiKey.issue), then through the TC3-signed API (signed
    as the SDK signs, see api/tests/signing.py): CreateEmailIdentity (verified afterwards in the
    database, as DNS would), CreateEmailAddress, CreateEmailTemplate; a callback endpoint row.
  - a warm-up message sent and delivered untraced (caches, connections, lazy imports), and every
    module of the project imported before tracing, so no import is ever counted.
  - the day's counters set so that this one delivery fires an upgrade: the domain is at level 1
    (cap 500) with 349 sent and 322 delivered today; the SendEmail makes it 350 sent (70 % of the
    cap) with a delivery rate of 92.0 % (U1 wants more than 92), and its delivery makes 323/350 =
    92.3 %: the domain goes up to level 2 at that reply, and its members are told. With
    --quiet-day the counters stay as the warm-up left them: the upgrade check runs and decides
    nothing, no notification (a quiet day's message).

The two traced phases:
  admission          ONE SendEmail POSTed with django.test.Client to "/" (middleware, signature,
                     API, admission checks, quota reservation, the message rows, the hand-out to
                     the broker on commit);
  delivery+outcome   the Celery task "sending.deliver" (its name in CELERY_TASK_ROUTES), looked up
                     in current_app.tasks and applied eagerly (task_always_eager on, so the tasks it
                     starts run inline too): claim, build, DKIM, SMTP to the local relay, the
                     outcome, the counters, the upgrade check, the level change's notification
                     and its email, the event callback row and its POST.
Afterwards it checks that all this happened (the message delivered, the level changed, the
notification emailed, the callback delivered) and exits non-zero if not.

Definitions (sys.setprofile, the main thread, "call" events only):
  - project code: a .py file under the repository root (the folder holding the imported
    `sesconsole` package) inside a top-level package (a folder with __init__.py), except the
    packages `tests` and `bench` and any `tests` or `migrations` folder. Django, Celery, the
    standard library, site-packages and this script are not project code.
  - a call: a Python function of project code starting (a generator's resumption is not a new
    call; module bodies run by an import are not calls). Its caller is the nearest frame up the
    stack that is project code, looking through frames of other code (Django's signal dispatch,
    the ORM, Celery), so "recording.py's on_commit lambda → notify/receivers.py" counts as one
    move although Django's signal dispatcher sits between them. An on_commit hook's caller is
    thus the project function whose transaction's commit ran it. A call with no project frame
    above it (the test client calling the first middleware) is an entry, not a move.
  - a move: a call whose caller's file differs from the callee's file.
      moves (distinct)          distinct (caller function, callee function) pairs of moves,
                                a function being (file, qualified name);
      calls across files (raw)  every move, as often as it happened;
      files                     distinct project files whose code ran in the phase;
      project calls (all)       every call into project code, within a file or not.
  "both" adds the two phases up (distinct pairs and files over the union).
Every project module is imported before tracing; a phase that imports one anyway stops the run.
With --postgres the admission takes the PostgreSQL fast paths (prepared statements): compare
figures measured on the same backend only.
The files are also listed in the order the phase first entered them, with how many cross-file
calls went into each: the path a reader follows. --pairs lists every distinct move.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import http.server
import importlib
import importlib.util
import json
import os
import pkgutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

# Not bench/ itself (bench/statistics.py would hide the standard library's module), and the
# repository this script sits in AFTER PYTHONPATH: PYTHONPATH=/other/clone measures that clone.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))

GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
NOT_PROJECT_PACKAGES = {"tests", "bench"}
NOT_PROJECT_FOLDERS = {"tests", "migrations"}
DOMAIN = "moves.example"
SENDER = f"news@{DOMAIN}"
HTML = ('<p>Hello {{name}}, your order {{order}} has shipped.</p>'
        '<p><a href="https://shop.example/orders/{{order}}">Track it</a></p>')
TEXT = "Hello {{name}}, your order {{order}} has shipped: https://shop.example/orders/{{order}}"
CALLBACK_PORT = 0  # the callback receiver's, set by main()


# --- the local servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Relay:
    """An SMTP server (aiosmtpd, its own thread) that accepts every message and keeps the envelopes."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[tuple[str, list[str]]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Ok: queued"


class CallbackReceiver(http.server.BaseHTTPRequestHandler):
    """Answers 200 to every POST and keeps the bodies (class attribute: one server per process)."""

    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's hook name
        self.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


# --- the environment ----------------------------------------------------------------------------


def configure(folder: Path, relay_port: int, postgres: str | None) -> str | None:
    """Point the settings at the script's own database, broker and relay. Returns the scratch PostgreSQL URL."""
    database = None
    if postgres:
        import psycopg

        database = f"{postgres.rstrip('/')}/sesconsole_moves_{os.getpid()}"
        with psycopg.connect(f"{postgres.rstrip('/')}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "sesconsole_moves_{os.getpid()}"')
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "sesconsole.settings",
        "SES_DATA_DIR": str(folder),
        "DATABASE_URL": database or f"sqlite:///{folder / 'moves.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "db://",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "ERROR",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(relay_port),
        "EMAIL_USE_TLS": "0",
        "SES_CALLBACK_ALLOW_PRIVATE_NETWORKS": "1",
        "SES_SIMULATOR_COUNTS_FOR_REPUTATION": "0",
    })
    return database


def drop_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def project_root() -> Path:
    spec = importlib.util.find_spec("sesconsole")
    if spec is None or not spec.origin:
        sys.exit("The project is not importable: run from the repository root or set PYTHONPATH to it.")
    return Path(spec.origin).resolve().parent.parent


def project_packages(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and (p / "__init__.py").is_file() and p.name not in NOT_PROJECT_PACKAGES)


def import_everything(root: Path) -> int:
    """Import every module of the project (so that no import runs inside a traced phase)."""
    count = 0
    for package in project_packages(root):
        importlib.import_module(package)
        for info in pkgutil.walk_packages([str(root / package)], prefix=f"{package}."):
            if NOT_PROJECT_FOLDERS & set(info.name.split(".")):
                continue
            try:
                importlib.import_module(info.name)
                count += 1
            except Exception as exc:  # noqa: BLE001 - reported: such a module is simply not warmed
                print(f"(could not import {info.name} before tracing: {exc.__class__.__name__}: {exc})")
    return count


# --- the API, signed as the SDK signs -------------------------------------------------------------


def tc3_headers(secret_id: str, secret_key: str, action: str, body: bytes, host: str) -> dict[str, str]:
    """TC3-HMAC-SHA256 over content-type and host, as tencentcloud.common.abstract_client signs."""
    timestamp = int(time.time())
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{host}\n", "content-type;host",
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{date}/ses/tc3_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), date), "ses"), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": host, "X-TC-Action": action, "X-TC-Version": "2020-10-02", "X-TC-Timestamp": str(timestamp),
        "X-TC-Region": "ap-guangzhou",
        "Authorization": (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/ses/tc3_request, "
                          f"SignedHeaders=content-type;host, Signature={signature}"),
    }


class Api:
    HOST = "127.0.0.1"  # in the default ALLOWED_HOSTS

    def __init__(self, secret_id: str, secret_key: str):
        from django.test import Client

        self.client, self.secret_id, self.secret_key = Client(), secret_id, secret_key

    def call(self, action: str, params: dict) -> dict:
        body = json.dumps(params).encode()
        headers = tc3_headers(self.secret_id, self.secret_key, action, body, self.HOST)
        response = self.client.post("/", data=body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{action}: HTTP {response.status_code}")
        data = response.json()["Response"]
        if "Error" in data:
            raise SystemExit(f"{action}: {data['Error']}")
        return data

    def send_email(self, recipient: str, template_id: int, n: int) -> str:
        return self.call("SendEmail", {
            "FromEmailAddress": f"Moves <{SENDER}>", "Destination": [recipient], "Subject": f"Order {n}",
            "Template": {"TemplateID": template_id, "TemplateData": json.dumps({"name": "Ann", "order": str(n)})},
        })["MessageId"]


def build() -> tuple[Api, int, dict]:
    """The account, its owner, key, verified domain, sender, template and callback endpoint."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    Account = apps.get_model("accounts", "Account")
    ApiKey = apps.get_model("accounts", "ApiKey")
    Membership = apps.get_model("accounts", "Membership")
    SenderDomain = apps.get_model("domains", "SenderDomain")
    Template = apps.get_model("sending", "Template")
    CallbackEndpoint = apps.get_model("notify", "CallbackEndpoint")

    account = Account.objects.create(name="Moves Co")
    owner = get_user_model().objects.create_user(username="owner@moves.test", email="owner@moves.test",
                                                 password="moves-password-123")
    Membership.objects.create(account=account, user=owner, role=Membership.OWNER)
    key, secret = ApiKey.issue(account)
    api = Api(key.secret_id, secret)
    api.call("CreateEmailIdentity", {"EmailIdentity": DOMAIN})
    SenderDomain.objects.filter(account=account, name=DOMAIN).update(status=SenderDomain.VERIFIED)
    api.call("CreateEmailAddress", {"EmailAddress": SENDER, "EmailSenderName": "Moves"})
    template_id = api.call("CreateEmailTemplate", {"TemplateName": "order shipped", "TemplateContent": {
        "Html": base64.b64encode(HTML.encode()).decode(), "Text": base64.b64encode(TEXT.encode()).decode()}})["TemplateID"]
    template = Template.objects.get(pk=template_id)
    if template.status != Template.APPROVED:
        raise SystemExit(f"the template was not approved: {template.review_reason}")
    endpoint = CallbackEndpoint(account=account, url=f"http://127.0.0.1:{CALLBACK_PORT}/events")
    endpoint.new_secret()
    endpoint.save()
    return api, template_id, {"account": account, "domain": SenderDomain.objects.get(account=account, name=DOMAIN)}


# --- the tracer ---------------------------------------------------------------------------------


class Tracer:
    """The profile function: counts calls into project code and the moves between its files."""

    def __init__(self, root: Path):
        self.root = root
        self.packages = set(project_packages(root))
        self.known: dict[str, str | None] = {}
        self.reset()

    def reset(self) -> None:
        self.pairs: dict[tuple[tuple[str, str], tuple[str, str]], int] = {}
        self.files: dict[str, int] = {}  # file -> cross-file calls into it, in order of first entry
        self.entries = 0
        self.calls = 0
        self.generators: dict[int, object] = {}  # id -> frame (kept alive, so an id is never reused)

    def project_file(self, filename: str) -> str | None:
        """The path relative to the root when `filename` is project code (see the docstring), else None."""
        try:
            return self.known[filename]
        except KeyError:
            pass
        relative = None
        if filename.endswith(".py"):
            try:
                parts = Path(os.path.realpath(filename)).relative_to(self.root).parts
            except ValueError:
                parts = ()
            if len(parts) > 1 and parts[0] in self.packages and not NOT_PROJECT_FOLDERS & set(parts[:-1]):
                relative = "/".join(parts)
        self.known[filename] = relative
        return relative

    def __call__(self, frame, event, arg) -> None:
        if event != "call":
            return
        code = frame.f_code
        callee_file = self.project_file(code.co_filename)
        if callee_file is None or code.co_name == "<module>":
            return
        if code.co_flags & GENERATOR_FLAGS:
            if id(frame) in self.generators:
                return  # resumed, not called
            self.generators[id(frame)] = frame
        self.calls += 1
        self.files.setdefault(callee_file, 0)
        caller = frame.f_back
        while caller is not None and self.project_file(caller.f_code.co_filename) is None:
            caller = caller.f_back
        if caller is None:
            self.entries += 1
            return
        caller_file = self.project_file(caller.f_code.co_filename)
        if caller_file == callee_file:
            return
        self.files[callee_file] += 1
        pair = ((caller_file, caller.f_code.co_qualname), (callee_file, code.co_qualname))
        self.pairs[pair] = self.pairs.get(pair, 0) + 1

    def run(self, call):
        self.reset()
        modules = set(sys.modules)
        sys.setprofile(self)
        try:
            result = call()
        finally:
            sys.setprofile(None)
        imported = [name for name in set(sys.modules) - modules
                    if self.project_file(getattr(sys.modules[name], "__file__", None) or "")]
        if imported:  # its class bodies would have counted as calls
            sys.exit(f"project modules imported inside a traced phase: {', '.join(sorted(imported))}")
        summary = {"moves": len(self.pairs), "raw": sum(self.pairs.values()), "files": dict(self.files),
                   "pairs": dict(self.pairs), "calls": self.calls, "entries": self.entries}
        self.generators.clear()
        return result, summary


# --- the run --------------------------------------------------------------------------------------


def deliver(message_pk: int) -> None:
    """The delivery task, by its name, applied eagerly; the tasks it starts run inline too."""
    from celery import current_app

    task = current_app.tasks["sending.deliver"]
    eager = (current_app.conf.task_always_eager, current_app.conf.task_eager_propagates)
    current_app.conf.task_always_eager, current_app.conf.task_eager_propagates = True, True
    try:
        task.apply(args=([message_pk],), throw=True)
    finally:
        current_app.conf.task_always_eager, current_app.conf.task_eager_propagates = eager


def main() -> None:
    global CALLBACK_PORT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL without a database name "
                        "(the script creates and drops its own database there); default: SQLite in a temporary folder")
    parser.add_argument("--quiet-day", action="store_true",
                        help="leave the day's counters low: the upgrade check decides nothing, nobody is notified")
    parser.add_argument("--pairs", action="store_true", help="list every distinct move (caller → callee)")
    args = parser.parse_args()

    root = project_root()
    relay = Relay()
    relay.controller.start()
    callbacks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackReceiver)
    CALLBACK_PORT = callbacks.server_address[1]
    threading.Thread(target=callbacks.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="sesconsole-moves-"))
    database = None
    try:
        database = configure(folder, relay.port, args.postgres)
        import logging

        import django

        django.setup()
        logging.disable(logging.WARNING)  # aiosmtpd's and the project's info lines would bury the table
        from django.apps import apps
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        modules = import_everything(root)
        api, template_id, ctx = build()
        Message = apps.get_model("sending", "Message")
        DomainDay = apps.get_model("domains", "DomainDay")
        LevelChange = apps.get_model("domains", "LevelChange")
        Notification = apps.get_model("notify", "Notification")
        CallbackDelivery = apps.get_model("notify", "CallbackDelivery")
        domain = ctx["domain"]

        # Warm-up: one message the whole way, untraced.
        warm = Message.objects.get(message_id=api.send_email("warm-up@example.org", template_id, 1))
        deliver(warm.pk)
        warm.refresh_from_db()
        if warm.status != Message.DELIVERED:
            raise SystemExit(f"the warm-up message was not delivered: {warm.status} {warm.outcome}")
        day = DomainDay.objects.get(domain=domain, day=warm.send_day)
        if not args.quiet_day:
            if (domain.level, day.cap) != (1, 500):
                raise SystemExit(f"expected a level-1 domain with cap 500, found level {domain.level}, cap {day.cap}")
            DomainDay.objects.filter(pk=day.pk).update(sent=349, delivered=322)
        before = {"changes": LevelChange.objects.filter(domain=domain).count(),
                  "notifications": Notification.objects.filter(account=ctx["account"]).count(),
                  "relay": len(relay.received), "callbacks": len(CallbackReceiver.bodies)}

        tracer = Tracer(root)
        message_id, admission = tracer.run(lambda: api.send_email("ann@example.org", template_id, 2))
        message = Message.objects.get(message_id=message_id)
        _, delivery = tracer.run(lambda: deliver(message.pk))

        # It happened, all of it.
        message.refresh_from_db()
        domain.refresh_from_db()
        problems = []
        if message.status != Message.DELIVERED:
            problems.append(f"message {message.status} ({message.outcome})")
        if not any("ann@example.org" in rcpts for _, rcpts in relay.received[before["relay"]:]):
            problems.append("the relay did not receive the message")
        if not CallbackDelivery.objects.filter(message_id=message_id, status=CallbackDelivery.DELIVERED).exists():
            problems.append("no delivered callback for the message")
        if len(CallbackReceiver.bodies) == before["callbacks"]:
            problems.append("the callback receiver got nothing")
        changes = LevelChange.objects.filter(domain=domain).count() - before["changes"]
        notified = Notification.objects.filter(account=ctx["account"]).count() - before["notifications"]
        if args.quiet_day:
            if changes or notified:
                problems.append(f"a quiet day changed the level ({changes}) or notified ({notified})")
        else:
            if changes != 1 or domain.level != 2:
                problems.append(f"the domain did not go up one level (changes {changes}, level {domain.level})")
            if notified != 1 or not Notification.objects.filter(account=ctx["account"], emailed_to__gte=1).exists():
                problems.append("the members were not notified by email")
            if not any("owner@moves.test" in rcpts for _, rcpts in relay.received[before["relay"]:]):
                problems.append("the relay did not receive the notification email")

        print_report(root, database or os.environ["DATABASE_URL"], modules, args, admission, delivery)
        if problems:
            print("\nNOT THE WHOLE PATH: " + "; ".join(problems))
            sys.exit(1)
        print("\nchecked: the message was delivered to the relay, its callback POSTed and recorded"
              + ("" if args.quiet_day else ", the domain went from level 1 to 2 and its owner was emailed"))
        connections.close_all()
    finally:
        relay.controller.stop()
        callbacks.shutdown()
        if database:
            from django.db import connections

            connections.close_all()
            drop_database(database)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def print_report(root: Path, database: str, modules: int, args, admission: dict, delivery: dict) -> None:
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True,
                                text=True, check=True).stdout.strip()[:90]
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    backend = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    story = "quiet day: the upgrade check decides nothing" if args.quiet_day else "this delivery fires an upgrade (level 1 → 2) and its notification"
    print(f"code: {root} ({commit})")
    print(f"database: {backend}; {modules} project modules imported before tracing; {story}")
    both_pairs = {**admission["pairs"]}
    for pair, n in delivery["pairs"].items():
        both_pairs[pair] = both_pairs.get(pair, 0) + n
    both_files = list(dict.fromkeys([*admission["files"], *delivery["files"]]))
    rows = [("admission", admission["moves"], admission["raw"], len(admission["files"]), admission["calls"]),
            ("delivery+outcome", delivery["moves"], delivery["raw"], len(delivery["files"]), delivery["calls"]),
            ("both", len(both_pairs), sum(both_pairs.values()), len(both_files),
             admission["calls"] + delivery["calls"])]
    print()
    print(f"| {'phase':<16} | moves (distinct) | calls across files (raw) | files | project calls (all) |")
    print(f"|{'-' * 18}|-----------------:|-------------------------:|------:|--------------------:|")
    for name, moves, raw, files, calls in rows:
        print(f"| {name:<16} | {moves:>16} | {raw:>24} | {files:>5} | {calls:>19} |")
    for name, phase in (("admission", admission), ("delivery+outcome", delivery)):
        print(f"\n{name}: files in order of first entry (cross-file calls into each)")
        for i, (file, into) in enumerate(phase["files"].items(), 1):
            print(f"  {i:>2}. {file} ({into})")
        if args.pairs:
            print(f"{name}: distinct moves (caller → callee ×times)")
            for ((f1, q1), (f2, q2)), n in phase["pairs"].items():
                print(f"      {f1}:{q1} → {f2}:{q2} ×{n}")


if __name__ == "__main__":
    main()
