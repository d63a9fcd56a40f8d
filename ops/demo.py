"""The demo data of `manage.py seed_demo` (and so of `bin/dev start`): 30 days of a platform at work.

The story, built day by day through the real engine rather than written into tables:

* Demo Co (demo@sesconsole.test) — `news.demo-co.test` climbs from level 1 to 12, one upgrade on
  each of eleven good days (one of them by U2 after a slip in list hygiene); `mail.demo-co.test`
  climbs to 4, is downgraded by D1 after a bad day, then sends a mediocre list that keeps it below
  the upgrade rules: a batch task pauses at its cap and resumes 24 hours later, and today another
  batch is paused at the cap. `alerts.demo-co.test` is verified and quiet, `billing.demo-co.test`
  waits for its DNS records.
* Northwind Shop (shop@sesconsole.test) — a stale list is frozen once by F1 (and downgraded by D1).
* Globex (globex@sesconsole.test) — climbs to level 20; staff approve its work order for a custom cap.

How: time-machine moves the clock (the engine reads timezone.now()) through the last 29 days, and
then today runs on the real clock. Each day the periodic tick (ops.periodic, which closes
the day before, resumes paused batches, warns near the cap) runs first; the day's bulk traffic goes
through the engine's own services (reserve_quota for the cap, record_outcome for each outcome, as
delivery does, with the upgrade and freeze checks they run); samples of real mail go through
send_email and batch dispatch to mailbox-simulator addresses, delivered in-process (Celery eager),
so their outcomes are the simulator's. Nothing leaves the machine.

Idempotent: when the demo is in place, nothing happens. It refuses a database that holds users or
accounts of its own (the demo adds a superuser whose password is public) unless forced. When the
platform day turns while the history is being built, the day it skipped gets an ordinary day's mail
and the new day is the demo's today, so no day of the 30 is empty.

Every threshold the story steers by is read from the rule tables (settings.SES_REPUTATION through
domains.reputation.levels), never restated here.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Account, ApiKey, Membership
from core.clock import platform_today

ACCOUNT_NAME = "Demo Co"
DEMO_EMAIL = "demo@sesconsole.test"
DEMO_PASSWORD = "demo-password-123"
ADMIN_EMAIL = "admin@sesconsole.test"
ADMIN_PASSWORD = "admin-password-123"
SHOP_ACCOUNT, SHOP_EMAIL = "Northwind Shop", "shop@sesconsole.test"
GLOBEX_ACCOUNT, GLOBEX_EMAIL = "Globex", "globex@sesconsole.test"
ACTOR = "seed_demo"

CLIMBING_DOMAIN = "news.demo-co.test"  # level 1 → 12
DOWNGRADED_DOMAIN = "mail.demo-co.test"  # up to 4, down by D1, batches paused at the cap
QUIET_DOMAIN = "alerts.demo-co.test"  # verified, nothing sent yet
PENDING_DOMAIN = "billing.demo-co.test"  # waiting for its DNS records (made last: the "seeded" mark)
FROZEN_DOMAIN = "mail.northwind.test"  # its account frozen once
TOP_DOMAIN = "mail.globex.test"  # level 20 with an approved work order

HISTORY_DAYS = 29  # days before today; with today, the 30 days the statistics page shows
CLIMB_TARGET = 12
CUSTOM_CAP = 1_200_000
REQUESTED_CAP = 1_500_000
# Receiving mailbox types (SPEC §5) and their shares of each domain's bulk mail (each type costs
# a round of outcomes a day, so most domains write to one).
MAILBOXES = {
    CLIMBING_DOMAIN: (("gmail.com", 60), ("qq.com", 40)),
    DOWNGRADED_DOMAIN: (("outlook.com", 100),),
    FROZEN_DOMAIN: (("gmail.com", 100),),
    TOP_DOMAIN: (("outlook.com", 100),),
}
STEADY_SHARE = Decimal("0.3")  # an ordinary day sends this share of the cap…
STEADY_MAX = 5_000  # …but no more (the demo builds in under a minute, not hours)


@dataclass(frozen=True)
class Mix:
    """How a day's mail fares: bounces per mille of sent; opens and clicks per mille of delivered."""

    invalid: int
    spam: int
    bounced: int
    opened: int
    clicked: int = 60


GOOD = Mix(invalid=10, spam=3, bounced=15, opened=450, clicked=80)  # inside U1, far from every D and F rule
SLIP = Mix(invalid=55, spam=4, bounced=10, opened=560, clicked=90)  # U1 fails on invalid, U2 holds (opens)
MEDIOCRE = Mix(invalid=60, spam=5, bounced=20, opened=300)  # no U rule holds, no D rule either: stays put
BAD = Mix(invalid=110, spam=5, bounced=20, opened=250)  # D1: invalid above 9% of sent
STALE = Mix(invalid=100, spam=5, bounced=20, opened=200)  # a stale list; the simulator's bounces finish it (F1)


# --- the plan: day offset (0 = today) → what each domain does ------------------------------------------
# (level to reach, mix): good days send until the rules have lifted the domain to that level, each
# upgrade the moment the counters allow it (several on one day when the plan says so). A Mix alone:
# an ordinary day of that quality. Days not listed send an ordinary good day when the domain's
# cadence says so (every day, every second, every third day), or nothing.

NEWS_PLAN = {
    -28: (2, GOOD), -26: (3, GOOD), -24: (4, GOOD), -22: (5, GOOD), -20: (6, GOOD), -17: (7, GOOD),
    -15: (8, SLIP), -10: (10, GOOD), -4: (12, GOOD),
}
MAIL_PLAN = {-27: (2, GOOD), -25: (3, GOOD), -23: (4, GOOD), -13: BAD, -11: MEDIOCRE, -9: MEDIOCRE, -6: MEDIOCRE,
             -4: MEDIOCRE, -2: MEDIOCRE, -1: MEDIOCRE}
MAIL_BATCH_PAUSE_DAY = -7  # a batch is paused at its cap at 13:00, resumed by the tick 24 hours later
SHOP_PLAN = {-27: (2, GOOD), -24: (3, GOOD)}
SHOP_FREEZE_DAY = -9
GLOBEX_PLAN = {-12: (20, GOOD), -10: GOOD, -8: GOOD, -7: GOOD, -4: GOOD, -1: GOOD, 0: GOOD}  # 1 → 20 in a day
WORK_ORDER_FILED, WORK_ORDER_APPROVED = -8, -7
CADENCE = {CLIMBING_DOMAIN: 1, DOWNGRADED_DOMAIN: 3, FROZEN_DOMAIN: 4, TOP_DOMAIN: 0}
SAMPLE_EVERY = 3  # real messages through send_email every third day (and today)
PLANS = {CLIMBING_DOMAIN: NEWS_PLAN, DOWNGRADED_DOMAIN: MAIL_PLAN, FROZEN_DOMAIN: SHOP_PLAN, TOP_DOMAIN: GLOBEX_PLAN}


DEMO_USERS = (ADMIN_EMAIL, DEMO_EMAIL, SHOP_EMAIL, GLOBEX_EMAIL)
DEMO_ACCOUNTS = (ACCOUNT_NAME, SHOP_ACCOUNT, GLOBEX_ACCOUNT)


class NotADemoDatabase(RuntimeError):
    """The database holds users or accounts that are not the demo's."""


def foreign_data(limit: int = 5) -> list[str]:
    """Users and accounts that are not the demo's (up to `limit` of each): a real installation's."""
    users = get_user_model().objects.exclude(username__in=DEMO_USERS).order_by("pk")
    demo_owned = Membership.objects.filter(user__username__in=DEMO_USERS).values("account")
    accounts = Account.objects.filter(~Q(name__in=DEMO_ACCOUNTS) | ~Q(pk__in=demo_owned)).order_by("pk")
    return [f"user {name}" for name in users.values_list("username", flat=True)[:limit]] + [
        f"account “{name}”" for name in accounts.values_list("name", flat=True)[:limit]
    ]


def seed_demo(*, force: bool = False) -> list[str]:
    """Build the demo unless it is there; one line per thing done (none when it was in place).

    Refuses (NotADemoDatabase) a database holding users or accounts that are not the demo's, unless
    `force`: the demo adds a superuser whose password is printed in the README."""
    from domains.models import SenderDomain

    if SenderDomain.objects.filter(name=PENDING_DOMAIN).exists():
        return []
    if ApiKey.objects.filter(account__domains__name=CLIMBING_DOMAIN).exists():
        # Complete (its key is issued just before the pending domain); that unverified domain expired
        # a week after the build (domains.models.UNVERIFIED_CLAIM_LIFETIME) or was deleted.
        return []
    foreign = [] if force else foreign_data()
    if foreign:
        raise NotADemoDatabase(
            f"This database is not empty and not the demo's: it holds {', '.join(foreign)}. seed_demo would add "
            f"the superuser {ADMIN_EMAIL} with the public password {ADMIN_PASSWORD}, so it changed nothing. "
            "Seed an empty database (embedded mode: a fresh var/ or SES_DATA_DIR; otherwise point DATABASE_URL "
            "at a new database), or pass --force if this database is a throwaway."
        )
    if SenderDomain.objects.filter(name=CLIMBING_DOMAIN).exists():
        raise RuntimeError(
            "A previous seed_demo stopped halfway (the demo domains exist but the build did not finish). "
            "Start from an empty database (delete var/ in embedded mode) and run it again."
        )
    done: list[str] = []
    with _build_mode():
        _Story(done).run()
    return done


@contextmanager
def _build_mode():
    """The demo's mail goes nowhere: simulator on, members' notifications kept in memory, tasks
    run in-process the moment they are enqueued (after their transaction commits). Its simulator
    mail counts for reputation whatever the setting (SPEC §4.4): the story is told with it."""
    from celery import current_app as app  # the project's app (sesconsole/__init__.py loads it)

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    logging.disable(logging.WARNING)  # a line per task, tick and freeze would bury what the command prints
    try:
        with override_settings(
            SES_SIMULATOR_ENABLED=True, SES_SIMULATOR_COUNTS_FOR_REPUTATION=True,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ):
            yield
    finally:
        logging.disable(logging.NOTSET)
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def _upgrade_share() -> Decimal:
    """A share of the cap past what every upgrade rule asks for (settings.SES_REPUTATION), in percent."""
    from domains.reputation import levels

    return max((Decimal(share) for share in levels.upgrade_shares()), default=Decimal(0)) + 2


def _judging_floor() -> int:
    """The fewest messages sent on a day that the downgrade and freeze rules judge ('sent > 300': 301)."""
    from domains.reputation import levels

    floors = [
        int(Decimal(value)) + (op == ">") for table in (levels.downgrade_rules(), levels.freeze_rules())
        for conditions in table.values() for metric, op, value in conditions if metric == "sent"
    ]
    return min(floors, default=1)


def _strictest_complaint_rate() -> Decimal | None:
    """The lowest complaint rate any rule names, in percent (the upgrade rules' 'complaint < 0.1')."""
    from domains.reputation import levels

    rates = [
        Decimal(value) for table in (levels.upgrade_rules(), levels.downgrade_rules(), levels.freeze_rules())
        for conditions in table.values() for metric, _, value in conditions if metric == "complaint_rate"
    ]
    return min(rates, default=None)


class _Story:
    def __init__(self, done: list[str]):
        self.done = done
        self.today = platform_today()

    # -- the frame ----------------------------------------------------------------------------------

    def run(self) -> None:
        import time_machine

        first = self.today - dt.timedelta(days=HISTORY_DAYS)
        with time_machine.travel(self._at(first - dt.timedelta(days=1), 9), tick=True) as clock:
            self.clock = clock
            self._cast()
            for offset in range(-HISTORY_DAYS, 0):
                self._day(offset)
            # The last evening: the tick that closes yesterday runs on the real clock below.
        self._catch_up()
        self.clock = None
        self._day(0)
        self._finish()

    def _catch_up(self) -> None:
        """The history takes a while on the real clock: when the platform day turned meanwhile, the days
        it skipped get an ordinary day's mail, and the new day is the demo's today."""
        import time_machine

        from core.clock import platform_today

        now = platform_today()
        if now <= self.today:
            return
        skipped = (now - self.today).days
        self.done.append(
            f"The platform day turned during the build: {self.today:%Y-%m-%d} got an ordinary day's mail"
            + (f" (and the {skipped - 1} days after it)" if skipped > 1 else "")
        )
        self.today = now
        with time_machine.travel(self._at(now - dt.timedelta(days=skipped), 0, 5), tick=True) as clock:
            self.clock = clock
            for offset in range(-skipped, 0):
                self._ordinary_history_day(offset)

    def _ordinary_history_day(self, offset: int) -> None:
        """A day outside the plan: the tick closes the day before, the domains send as on any day."""
        self._move(offset, 0, 5)
        self._close_days()
        self._move(offset, 9)
        self._ordinary_day(CLIMBING_DOMAIN, GOOD)
        self._ordinary_day(DOWNGRADED_DOMAIN, MEDIOCRE)
        self._ordinary_day(TOP_DOMAIN, GOOD)
        self._move(offset, 10)
        self._send_sample(offset, tag=f"late{offset + HISTORY_DAYS}")

    def _at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))

    def _move(self, offset: int, hour: int, minute: int = 0) -> None:
        """Set the clock to `hour` on day `offset`; today runs on the real clock."""
        if offset < 0:
            self.clock.move_to(self._at(self.today + dt.timedelta(days=offset), hour, minute))

    def _tick(self) -> None:
        from ops.periodic import run_due_jobs

        run_due_jobs()

    def _close_days(self) -> None:
        """The tick's job that closes past days (a whole tick each night would only add time)."""
        from ops.periodic import job_named, run_job

        run_job(job_named("close_days"))

    # -- the cast -----------------------------------------------------------------------------------

    def _cast(self) -> None:
        from domains.services import create_domain, force_verify
        from sending import services as sending

        User = get_user_model()
        self.admin = User.objects.filter(username=ADMIN_EMAIL).first()
        if self.admin is None:
            self.admin = User.objects.create_superuser(ADMIN_EMAIL, ADMIN_EMAIL, ADMIN_PASSWORD)
            self.done.append(f"Created the staff user {ADMIN_EMAIL}")
        self.demo = self._account(ACCOUNT_NAME, DEMO_EMAIL)
        self.shop = self._account(SHOP_ACCOUNT, SHOP_EMAIL)
        self.globex = self._account(GLOBEX_ACCOUNT, GLOBEX_EMAIL)
        self.domains = {}
        for account, name in (
            (self.demo, CLIMBING_DOMAIN), (self.demo, DOWNGRADED_DOMAIN), (self.demo, QUIET_DOMAIN),
            (self.shop, FROZEN_DOMAIN), (self.globex, TOP_DOMAIN),
        ):
            domain = create_domain(account, name)
            # Offline installs verify by hand; the staff log says the demo did it.
            force_verify(domain, None, actor_label=ACTOR, reason="demo data")
            self.domains[name] = domain
        self.done.append(f"Created and verified (forced; demo data) {', '.join(self.domains)}")
        self.senders = {
            CLIMBING_DOMAIN: sending.create_sender_address(self.demo, f"news@{CLIMBING_DOMAIN}", "Demo Co News"),
            DOWNGRADED_DOMAIN: sending.create_sender_address(self.demo, f"hello@{DOWNGRADED_DOMAIN}", "Demo Co"),
            FROZEN_DOMAIN: sending.create_sender_address(self.shop, f"offers@{FROZEN_DOMAIN}", "Northwind"),
        }
        body = (
            "<p>Hello {{name}},</p><p>This week at Demo Co: three new guides and a webinar.</p>"
            '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'
        )
        text = "Hello {{name}},\n\nThis week at Demo Co: three new guides and a webinar.\n\nUnsubscribe: {{unsubscribe_url}}\n"
        self.templates = {
            self.demo.pk: sending.create_template(
                self.demo, name="Weekly news", subject="This week at Demo Co", html=body, text=text
            ),
            self.shop.pk: sending.create_template(
                self.shop, name="Spring offers", subject="Spring offers at Northwind", html=body.replace("Demo Co", "Northwind"),
                text=text.replace("Demo Co", "Northwind"),
            ),
        }

    def _account(self, name: str, email: str) -> Account:
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=email).first()
            if user is None:
                # The owners share one password: hashed once (each hash costs a good part of a second).
                self.password_hash = getattr(self, "password_hash", None) or make_password(DEMO_PASSWORD)
                user = User.objects.create(username=email, email=email, password=self.password_hash)
            account = Account.objects.create(name=name)
            Membership.objects.create(account=account, user=user, role=Membership.OWNER)
        self.done.append(f"Created the account “{name}” (owner {email})")
        return account

    # -- one day ------------------------------------------------------------------------------------

    def _day(self, offset: int) -> None:
        self._move(offset, 0, 5)
        self._close_days()  # yesterday: downgrades and the end of a freeze take effect from now

        self._move(offset, 9)
        for name, plan in PLANS.items():
            if offset in (MAIL_BATCH_PAUSE_DAY, 0) and name == DOWNGRADED_DOMAIN:
                continue  # that day is _batch_at_the_cap's
            if offset == SHOP_FREEZE_DAY and name == FROZEN_DOMAIN:
                continue  # that day is _stale_list_day's
            step = plan.get(offset)
            if step is None and CADENCE[name] and offset % CADENCE[name] == 0:
                step = GOOD
            if isinstance(step, tuple):
                self._climb(name, *step)
            elif step is not None:
                self._ordinary_day(name, step)

        self._move(offset, 10)
        if offset % SAMPLE_EVERY == 0:
            self._send_sample(offset)
        if offset == SHOP_FREEZE_DAY:
            self._stale_list_day(offset)
        if offset == WORK_ORDER_FILED:
            self._file_work_order()
        if offset == WORK_ORDER_APPROVED:
            self._approve_work_order()
        if offset in (MAIL_BATCH_PAUSE_DAY, 0):
            self._move(offset, 13)
            self._batch_at_the_cap(offset)
        if offset in (MAIL_BATCH_PAUSE_DAY + 1, 0):
            self._move(offset, 14, 5)
            self._tick()  # resumes the batch paused 24 hours ago, warns members of domains near their cap

    # -- bulk traffic through the engine ------------------------------------------------------------

    def _domain(self, name: str):
        domain = self.domains[name]
        domain.refresh_from_db()
        return domain

    def _climb(self, name: str, level: int, mix: Mix) -> None:
        """Send good mail past the upgrade share of the cap until the rules lift the domain to `level`."""
        from domains.reputation.services import get_day

        domain = self._domain(name)
        while domain.level < level:
            row = get_day(domain)
            if not _engine_traffic(domain, math.ceil(row.cap * _upgrade_share() / 100) - row.sent, mix):
                raise RuntimeError(f"{name} did not reach level {level}: are the upgrade rules unreachable?")
            domain = self._domain(name)

    def _ordinary_day(self, name: str, mix: Mix, *, leave: int | None = None) -> None:
        """An ordinary day's mail (or, with `leave`, all the cap but that many)."""
        from domains.reputation.services import get_day

        domain = self._domain(name)
        row = get_day(domain)
        if leave is None:
            count = min(int(row.cap * STEADY_SHARE), STEADY_MAX) - row.sent
        else:
            count = row.cap - row.sent - leave
        _engine_traffic(domain, count, mix)

    # -- real mail: send_email and batch dispatch to the simulator ------------------------------------

    def _send_sample(self, offset: int, tag: str | None = None) -> None:
        """A few real messages from news.demo-co.test, to simulator mailboxes: the simulator decides."""
        from domains.reputation.services import get_day
        from sending import services as sending

        tag = tag or f"d{offset + HISTORY_DAYS}"
        mailboxes = ["success", "open", "click", ("success", "bounce", "unsubscribe", "success", "complaint")[offset % 5]]
        if mailboxes[-1] == "complaint":
            # One complaint among the day's delivered mail must stay inside every rule: below half the
            # strictest complaint rate of the rule tables, or the simulator gets a plain success.
            strictest = _strictest_complaint_rate()
            delivered = get_day(self._domain(CLIMBING_DOMAIN)).delivered
            if strictest is not None and (not delivered or Decimal(100) / delivered >= strictest / 2):
                mailboxes[-1] = "success"
        sending.send_email(
            self.demo, from_address=f"Demo Co News <news@{CLIMBING_DOMAIN}>",
            destinations=[_simulator(box, f"{tag}-{i}") for i, box in enumerate(mailboxes)],
            template_id=self.templates[self.demo.pk].pk, template_data={"name": "reader"}, unsubscribe=2,
        )

    def _batch_at_the_cap(self, offset: int) -> None:
        """mail.demo-co.test fills its day with mediocre mail, then a batch task meets the cap."""
        from batches import services as batches
        from batches.lists import importer
        from batches.lists import services as list_services

        room = 20 if offset else 15
        size = 50 if offset else 40
        self._ordinary_day(DOWNGRADED_DOMAIN, MEDIOCRE, leave=room)
        when = "today" if offset == 0 else f"day{offset + HISTORY_DAYS}"
        receiver_list = list_services.create_list(self.demo, f"Customers {when}", "Loaded by seed_demo")
        boxes = ("success", "open", "click", "success", "open")
        importer.add_receivers(
            receiver_list,
            [(_simulator(boxes[i % len(boxes)], f"{when}-{i}"), {"name": f"customer {i}"}) for i in range(size)],
        )
        task = batches.create_task(
            self.demo, from_address=f"hello@{DOWNGRADED_DOMAIN}", receiver_list_id=receiver_list.pk,
            template_id=self.templates[self.demo.pk].pk, unsubscribe=2,
        )
        task.refresh_from_db()
        self.done.append(
            f"Batch task {task.pk} from {DOWNGRADED_DOMAIN}: {task.get_status_display().lower()} after "
            f"{task.send_count} of {task.request_count} ({task.pause_reason or 'not paused'})"
        )

    def _stale_list_day(self, offset: int) -> None:
        """Northwind mails a stale list: the simulator's bounces push the account past F1."""
        from sending import services as sending

        # Just under the rules' floor of messages sent ("sent > 300"): no rule judges the day yet.
        _engine_traffic(self._domain(FROZEN_DOMAIN), _judging_floor() - 11, STALE)
        tag = f"d{offset + HISTORY_DAYS}"
        destinations = [_simulator("bounce", f"{tag}-{i}") for i in range(15)]
        destinations += [_simulator("success", f"{tag}-{i}") for i in range(5)]
        sending.send_email(
            self.shop, from_address=f"offers@{FROZEN_DOMAIN}", destinations=destinations,
            template_id=self.templates[self.shop.pk].pk, template_data={"name": "customer"}, unsubscribe=2,
        )
        self._move(offset, 15)
        try:
            sending.send_email(
                self.shop, from_address=f"offers@{FROZEN_DOMAIN}", destinations=[_simulator("success", f"{tag}-late")],
                template_id=self.templates[self.shop.pk].pk, template_data={"name": "customer"}, unsubscribe=2,
            )
        except sending.SendError as exc:
            self.done.append(f"{SHOP_ACCOUNT} was frozen; a later send was refused: {exc.code}")

    def _file_work_order(self) -> None:
        from domains import workorders

        owner = get_user_model().objects.get(username=GLOBEX_EMAIL)
        self.work_order = workorders.file_work_order(
            self.domains[TOP_DOMAIN], owner, REQUESTED_CAP,
            "Our seasonal sale doubles the newsletter audience for four weeks.",
        )

    def _approve_work_order(self) -> None:
        from domains import workorders

        workorders.approve(self.work_order, self.admin, CUSTOM_CAP, "Approved for the season; reviewed again in January.")
        self.done.append(f"Staff approved a custom cap of {CUSTOM_CAP:,} for {TOP_DOMAIN} (level 20)")

    # -- the end --------------------------------------------------------------------------------------

    def _finish(self) -> None:
        from domains.services import create_domain

        for name, domain in self.domains.items():
            domain.refresh_from_db()
            if name != QUIET_DOMAIN:
                self.done.append(f"{name}: level {domain.level} after 30 days")
        key, secret = ApiKey.issue(self.demo)
        self.done.append(f"API key of {ACCOUNT_NAME}: SecretId {key.secret_id} SecretKey {secret} (shown only now)")
        create_domain(self.demo, PENDING_DOMAIN)  # last: its presence says the demo is complete
        self.done.append(f"Created the sender domain {PENDING_DOMAIN} (waiting for its DNS records)")
        first = self.today - dt.timedelta(days=HISTORY_DAYS)
        self.done.append(f"The demo's 30 days: {first:%Y-%m-%d} to {self.today:%Y-%m-%d} (today)")




def _simulator(mailbox: str, tag: str) -> str:
    return f"{mailbox}+{tag}@{settings.SES_SIMULATOR_DOMAIN}"


def _engine_traffic(domain, count: int, mix: Mix) -> int:
    from core.clock import platform_today
    from domains.reputation.services import reserve_quota

    if count <= 0:
        return 0
    mailboxes = MAILBOXES[domain.name]
    weights = sum(w for _, w in mailboxes)
    split = [(box, count * w // weights) for box, w in mailboxes]
    split[0] = (split[0][0], split[0][1] + count - sum(n for _, n in split))
    recipients: list[str] = []
    for box, n in split:
        recipients += [f"reader@{box}"] * n  # one address per mailbox type: only the count matters here
    day = platform_today()
    with transaction.atomic():  # the day's group of outcomes commits at once, as a delivery worker's does
        if not reserve_quota(domain, recipients).ok:
            return 0
        _outcomes(domain, day, split, mix)
    return count


def _outcomes(domain, day: dt.date, split: list[tuple[str, int]], mix: Mix) -> None:
    from domains.reputation.services import record_outcome

    for box, n in split:
        invalid, spam, bounced = (n * share // 1000 for share in (mix.invalid, mix.spam, mix.bounced))
        delivered = n - invalid - spam - bounced
        # Bounces come back first: a rule never sees a day better than it turns out.
        outcomes: list[tuple[str, int]] = [("invalid", invalid), ("spam", spam), ("bounced", bounced), ("delivered", delivered)]
        outcomes += [(name, delivered * share // 1000) for name, share in
                     (("opened", mix.opened), ("clicked", mix.clicked))]
        for outcome, k in outcomes:
            if k:
                record_outcome(domain, day, outcome, f"reader@{box}", n=k)

