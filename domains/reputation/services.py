"""The reputation engine's services: they load rows, call the pure rules, and write the result.

    reserve_quota    count n messages against today's cap, all or none (the upgrade check first when
                     they do not fit), then the upgrade and freeze checks when a rule could fire
    reserve_up_to    as many of a chunk's recipients as today's room allows (batch dispatch)
    record_outcome   add an outcome to the day's counters, then run the upgrade and freeze checks
    check_upgrade    SPEC §3.2, immediate, one level per check
    check_freeze     SPEC §3.4, on the account's day totals; lift_freeze: staff lift one early
    days_no_upgrade_can_move
                     of some (domain, day) keys, those whose level no outcome can raise now
    close_day        SPEC §3.3, downgrades for the next day and freeze bookkeeping; idempotent
    close_due_days   closes, in order, every past day not closed yet (the scheduler may have been down)
    mailbox_type_of  a recipient's mailbox type as admitted: SIMULATOR_MAILBOX for simulator mail that
                     does not count for reputation (SPEC §4.4; rules.counts_for_reputation)
    get_day, metrics_of, counters_of, account_metrics, pending_downgrade, domains_today
                     a day row, what the rules see in it, and what the pages show of it

The statements written by hand are in sql.py; the engine as a whole: docs/engine.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import Account, AccountFreeze
from core.addresses import is_simulator_address
from core.clock import platform_today, start_of_day
from domains import signals
from domains.models import ClosedDay, DomainDay, LevelChange, SenderDomain
from domains.reputation import levels, rollups, rules, sql
from domains.reputation.rules import SIMULATOR_MAILBOX, counts_for_reputation

log = logging.getLogger(__name__)

# What each outcome adds to the counters. A late bounce of a delivered message moves it (SPEC §4.3).
OUTCOME_COUNTERS: dict[str, dict[str, int]] = {
    "delivered": {"delivered": 1},
    "invalid": {"invalid": 1},
    "spam": {"spam": 1},
    "bounced": {"bounced": 1},
    "complaint": {"complaints": 1},
    "opened": {"opened": 1},
    "clicked": {"clicked": 1},
    "unsubscribed": {"unsubscribed": 1},
    "late_invalid": {"delivered": -1, "invalid": 1},
    "late_spam": {"delivered": -1, "spam": 1},
    "late_bounced": {"delivered": -1, "bounced": 1},
}


def metrics_of(row: DomainDay | dict) -> rules.DayMetrics:
    """The metrics the rules see in a day row (or a dict of its counters): `sent` without the
    simulated messages, which count against the cap only (their outcomes never reach the row)."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name))
    return rules.DayMetrics(
        sent=(get("sent") or 0) - (get("simulated") or 0),
        delivered=get("delivered") or 0,
        invalid=get("invalid") or 0,
        spam=get("spam") or 0,
        complaints=get("complaints") or 0,
        opened=get("opened") or 0,
    )


def counters_of(row: DomainDay | dict) -> tuple[int, ...]:
    """metrics_of(row) as the fast forms of the rules read it: a tuple in rules.COUNTER_ORDER."""
    metrics = metrics_of(row)
    return tuple(getattr(metrics, name) for name in rules.COUNTER_ORDER)


def get_day(domain: SenderDomain, day: dt.date | None = None) -> DomainDay:
    """The domain's counter row for `day` (default today), created at the domain's current cap."""
    day = day or platform_today()
    row = DomainDay.objects.filter(domain=domain, day=day).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return DomainDay.objects.create(domain=domain, day=day, level=domain.level, cap=domain.daily_cap)
    except IntegrityError:  # another process created it between our read and our insert
        return DomainDay.objects.get(domain=domain, day=day)


def _add_volume(domain: SenderDomain, day: dt.date, mailbox_counts: dict[str, dict[str, int]]) -> None:
    # DailyVolume and the account's rollups, in the caller's transaction (domains.reputation.rollups).
    rollups.add_volume(domain, day, mailbox_counts)


def mailbox_type_of(address: str) -> str:
    """The receiving mailbox type of SPEC §5: the recipient's domain, e.g. gmail.com; SIMULATOR_MAILBOX
    for a mailbox-simulator address when simulator mail does not count for reputation. Decided once,
    when the message is admitted: every later outcome follows the type the Message kept, whatever
    SES_SIMULATOR_COUNTS_FOR_REPUTATION says by then (docs/engine.md).
    """
    if not settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION and is_simulator_address(
        address, settings.SES_SIMULATOR_DOMAIN
    ):
        return SIMULATOR_MAILBOX
    return address.rsplit("@", 1)[-1].strip().lower()


@dataclass(frozen=True)
class Reservation:
    ok: bool
    sent: int
    cap: int
    upgraded_to: int | None = None


def _counts_by_mailbox(recipients: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for address in recipients:
        mailbox_type = mailbox_type_of(address)
        counts[mailbox_type] = counts.get(mailbox_type, 0) + 1
    return counts


def _uncounted(counts: dict[str, int]) -> int:
    """How many of a reservation's `{mailbox_type: n}` do not count for reputation."""
    return sum(k for mailbox_type, k in counts.items() if not counts_for_reputation(mailbox_type))


def _rollup_serves_freeze() -> bool:
    """Whether the account's day rollup holds exactly the counters the freeze rules read.

    AccountDay is written with every change of DomainDay in the same transaction, by the same
    amounts (both leave out mail that does not count for reputation), except that a decrement meeting a missing statistics row is clamped at 0 (domains.reputation.rollups):
    the counters an outcome can decrement are therefore not exact there. Computed once per freeze
    rule table (settings; a test that swaps the table gets a new answer).
    """
    table = levels.freeze_rules()
    cached = _serves_freeze_for
    if cached and cached[0] is table:
        return cached[1]
    decremented = {name for moves in OUTCOME_COUNTERS.values() for name, d in moves.items() if d < 0}
    exact = set(rollups.COUNTERS) - decremented
    answer = rules.counters_read_by(table) <= exact
    _serves_freeze_for[:] = [table, answer]
    return answer


_serves_freeze_for: list = []  # [the freeze rule table, its answer]


def reserve_quota(domain: SenderDomain, recipients: list[str]) -> Reservation:
    """Count `len(recipients)` messages against today's cap: all of them or none.

    1. One conditional UPDATE (`sent + n <= cap`) on the day row; it is atomic in the database, so
       any number of processes never push a domain past its cap. The statistics are written with it.
    2. If it does not fit, the upgrade check runs first (SPEC §3.5); if it lifts the cap, try once more.
    3. After a successful reservation the counters changed: the upgrade check (SPEC §3.2) and the
       freeze check (SPEC §3.4) run when their rules, applied to the counters the reservation read
       back, would fire (the same pure rules the checks apply; a check that would decide "no" is
       skipped). The upgrade rules read the day row, locked by the reservation; the freeze rules
       read the account's day rollup, locked by it too (when the rollup is exact for them). A
       reservation of simulated messages only (counts_for_reputation) changed nothing the rules read,
       and runs neither.
    """
    n = len(recipients)
    if n <= 0:
        raise ValueError("reserve at least one message")
    day = platform_today()
    counts = _counts_by_mailbox(recipients)
    simulated = _uncounted(counts)
    upgraded_to = None
    taken = sql.take(domain, day, n, counts, simulated)
    if taken is None:
        row = get_day(domain, day)  # the row may not exist yet, or it is full
        if row.sent + n <= row.cap:
            taken = sql.take(domain, day, n, counts, simulated)
        if taken is None:
            upgraded_to = check_upgrade(domain.pk, day)
            if upgraded_to is not None:
                taken = sql.take(domain, day, n, counts, simulated)
        if taken is None:
            row.refresh_from_db(fields=["sent", "cap"])
            return Reservation(False, row.sent, row.cap, upgraded_to)
    upgraded = None
    if simulated < n:
        # rules.upgrade and rules.freeze on the counters read back, in their fast forms.
        if rules.upgrade_fires(levels.upgrade_rules())(taken.day, taken.level, taken.cap, levels.top_level()):
            upgraded = check_upgrade(domain.pk, day)
        if taken.account is None or not _rollup_serves_freeze() or rules.freeze_fires(levels.freeze_rules())(taken.account):
            check_freeze(domain.account_id, day)  # "sent > 300" may have just become true
    cap = taken.cap
    if upgraded is not None:
        cap = DomainDay.objects.filter(domain=domain, day=day).values_list("cap", flat=True).get()
    return Reservation(True, taken.sent, cap, upgraded or upgraded_to)


def reserve_up_to(domain: SenderDomain, recipients: list[str]) -> int:
    """Count as many of `recipients` (from the front) as today's room allows; returns how many.

    For batch dispatch (SPEC §3.5): a chunk takes what is left under the cap. Each attempt is the
    same all-or-none conditional UPDATE as reserve_quota; a concurrent sender may take the room
    between our read and our update, so we read again and retry with what is left.
    """
    while recipients:
        row = get_day(domain)
        room = row.cap - row.sent
        if room <= 0:
            if check_upgrade(domain.pk, row.day) is None:
                return 0
            continue
        take = min(room, len(recipients))
        if reserve_quota(domain, recipients[:take]).ok:
            return take
    return 0


def record_outcome(
    domain: SenderDomain, day: dt.date, outcome: str, recipient: str, n: int = 1, *, mailbox_type: str | None = None
) -> None:
    """Add an outcome of a message sent on `day` to that day's counters, then run the checks.

    `mailbox_type` is the message's as it was admitted (Message.mailbox_type; default: the
    recipient's now). An outcome of mail that does not count for reputation (counts_for_reputation)
    goes to the statistics only: the day row and the rules never see it.
    A check whose rules read none of the counters that moved would decide as it did last time, so
    it is skipped (a delivery cannot freeze an account: F1 and F2 read sent, invalid and spam).
    """
    increments = {name: delta * n for name, delta in OUTCOME_COUNTERS[outcome].items()}
    if mailbox_type is None:
        mailbox_type = mailbox_type_of(recipient)
    counted = counts_for_reputation(mailbox_type)
    # Joins the caller's transaction when there is one: a worker commits a reply and all it triggers once.
    updates = {name: F(name) + d for name, d in increments.items()}
    with transaction.atomic(savepoint=False):
        if counted and not DomainDay.objects.filter(domain=domain, day=day).update(**updates):
            DomainDay.objects.filter(pk=get_day(domain, day).pk).update(**updates)
        _add_volume(domain, day, {mailbox_type: increments})
        if not counted:
            return
        if increments.keys() & rules.counters_read_by(levels.upgrade_rules()):
            check_upgrade(domain.pk, day)
        if increments.keys() & rules.counters_read_by(levels.freeze_rules()):
            check_freeze(domain.account_id, day)


def check_upgrade(domain_id: int, day: dt.date) -> int | None:
    """SPEC §3.2 on the day's counters as they stand; returns the new level when the domain went up.

    Only today's counters move a level: an outcome that arrives for a closed day updates statistics
    but cannot lift today's cap.
    """
    if day != platform_today():
        return None
    with transaction.atomic(savepoint=False):
        # NO KEY UPDATE: serialises level changes without blocking inserts of rows that reference
        # the domain (messages, counters), whose foreign-key checks take a KEY SHARE lock.
        domain = SenderDomain.objects.select_for_update(no_key=True).get(pk=domain_id)
        if not domain.is_verified:
            return None
        row = DomainDay.objects.filter(domain=domain, day=day).first()
        if row is None:
            return None
        decision = rules.upgrade(
            metrics_of(row), domain.level, row.cap, levels.top_level(), levels.upgrade_rules()
        )
        if decision is None:
            return None
        change = _change_level(domain, domain.level + 1, decision, day, timezone.now())
        DomainDay.objects.filter(pk=row.pk).update(level=domain.level, cap=domain.daily_cap)
    transaction.on_commit(lambda: signals.level_changed.send(sender=LevelChange, change=change))
    return domain.level


def days_no_upgrade_can_move(keys: set[tuple[int, dt.date]]) -> set[tuple[int, dt.date]]:
    """Of these (domain id, day) keys, those whose level no outcome can raise now: a past day (only
    today's counters move a level: check_upgrade), a domain not verified, or a day no upgrade rule
    can reach until more mail is sent (rules.upgrade_out_of_reach: the top level, or a volume below
    every rule's share of the cap). Their deliveries may be counted in sums (sending.recording)."""
    today = platform_today()
    summable = {key for key in keys if key[1] != today}
    todays = {domain_id for domain_id, day in keys if day == today}
    if not todays:
        return summable
    out_of_reach = rules.upgrade_out_of_reach(levels.upgrade_rules())
    top = levels.top_level()
    # `sent` as the upgrade rules see it (metrics_of).
    rows = DomainDay.objects.filter(domain_id__in=todays, day=today).annotate(counted=F("sent") - F("simulated")).values_list(
        "domain_id", "counted", "cap", "domain__level", "domain__status"
    )
    for domain_id, sent, cap, level, status in rows:
        if status != SenderDomain.VERIFIED or out_of_reach(sent, level, cap, top):
            summable.add((domain_id, today))
    return summable


def _change_level(
    domain: SenderDomain, to_level: int, decision: rules.Decision, day: dt.date, effective_at: dt.datetime
) -> LevelChange:
    from_level = domain.level
    domain.level = to_level
    fields = ["level"]
    if to_level < levels.top_level() and domain.custom_cap is not None:
        domain.custom_cap = None  # losing level 20 drops the custom cap (SPEC §3)
        fields.append("custom_cap")
    domain.save(update_fields=fields)
    log.info("domain %s level %s -> %s by %s %s", domain.name, from_level, to_level, decision.rule, decision.values)
    return LevelChange.objects.create(
        domain=domain, day=day, effective_at=effective_at, from_level=from_level, to_level=to_level,
        rule=decision.rule, metrics=decision.values,
    )


def account_metrics(account_id: int, day: dt.date) -> rules.DayMetrics:
    totals = DomainDay.objects.filter(domain__account_id=account_id, day=day).aggregate(
        sent=Sum("sent"), simulated=Sum("simulated"), delivered=Sum("delivered"), invalid=Sum("invalid"), spam=Sum("spam"),
        complaints=Sum("complaints"), opened=Sum("opened"),
    )
    return metrics_of(totals)


def check_freeze(account_id: int, day: dt.date) -> AccountFreeze | None:
    """SPEC §3.4 on the account's day totals; freezes the account for the rest of `day`.

    One freeze per account and day: a freeze staff lifted stays lifted for that day.
    """
    if day != platform_today():
        return None
    if AccountFreeze.objects.filter(account_id=account_id, day=day).exists():
        return None
    decision = rules.freeze(account_metrics(account_id, day), levels.freeze_rules())
    if decision is None:
        return None
    try:
        with transaction.atomic():
            freeze = AccountFreeze.objects.create(
                account_id=account_id, day=day, rule=decision.rule, metrics=decision.values
            )
    except IntegrityError:  # frozen by a concurrent check a moment ago
        return None
    log.warning("account %s frozen for %s by %s %s", account_id, day, decision.rule, decision.values)
    signals.account_frozen.send(sender=AccountFreeze, freeze=freeze)
    return freeze


def lift_freeze(freeze: AccountFreeze, user, reason: str) -> None:
    """Staff lift a freeze early (SPEC §3.4); who and why are kept on the freeze and in the staff log."""
    from accounts.staff import log_staff_action

    if not reason.strip():
        raise ValueError("a reason is required to lift a freeze")
    if freeze.lifted_at is not None:
        return
    freeze.lifted_at = timezone.now()
    freeze.lifted_by = user
    freeze.lift_reason = reason.strip()
    freeze.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    log_staff_action(user, "lift_freeze", f"account {freeze.account_id} on {freeze.day}", reason)


def pending_downgrade(domain: SenderDomain, row: DomainDay | None) -> str | None:
    """The downgrade rule today's counters meet so far: what happens at midnight if nothing changes."""
    if row is None or domain.level <= 1:
        return None
    return rules.would_downgrade(metrics_of(row), levels.downgrade_rules())


def close_day(day: dt.date) -> ClosedDay:
    """SPEC §3.3: apply D1–D4 to `day`'s final counters, effective from the start of the next day.

    Idempotent: a ClosedDay row marks the day; closing it again returns that row and changes nothing.
    Rows are handled in chunks, each in one transaction, so 100,000 domains need no per-row commits.
    """
    existing = ClosedDay.objects.filter(day=day).first()
    if existing:
        return existing
    if day >= platform_today():
        raise ValueError(f"{day} has not ended yet (today is {platform_today()})")
    next_day = day + dt.timedelta(days=1)
    effective_at = start_of_day(next_day)
    table = levels.downgrade_rules()
    fires = rules.downgrade_fires(table)
    evaluated = downgraded = 0
    changes: list[LevelChange] = []
    while True:
        with transaction.atomic():
            chunk = list(
                # The day rows and their domains are locked, as before; the accounts come along
                # unlocked, for the notifications sent after the close.
                DomainDay.objects.select_for_update(of=("self", "domain"))
                .filter(day=day, closed_at__isnull=True)
                .select_related("domain", "domain__account")
                .order_by("pk")[:1000]
            )
            if not chunk:
                break
            now = timezone.now()
            moves = []
            for row in chunk:
                evaluated += 1
                domain = row.domain
                # The fast form first: the decision (the rule and its values) only for a domain that goes down.
                if domain.is_verified and fires(counters_of(row), domain.level):
                    moves.append((domain, rules.downgrade(metrics_of(row), domain.level, table)))
            if moves:
                downgraded += len(moves)
                changes += _downgrade_all(moves, day, effective_at)
            DomainDay.objects.filter(pk__in=[r.pk for r in chunk]).update(closed_at=now)
    with transaction.atomic():
        AccountFreeze.objects.filter(day=day, ended_at__isnull=True).update(ended_at=effective_at)
        closed, _ = ClosedDay.objects.get_or_create(
            day=day, defaults={"domains_evaluated": evaluated, "downgrades": downgraded}
        )
    for change in changes:
        signals.level_changed.send(sender=LevelChange, change=change)
    log.info("closed %s: %s domains evaluated, %s downgraded", day, evaluated, downgraded)
    return closed


def _downgrade_all(
    moves: list[tuple[SenderDomain, rules.Decision]], day: dt.date, effective_at: dt.datetime
) -> list[LevelChange]:
    """One level down for each domain of a chunk, in a few statements whatever their number:
    the levels (and custom caps lost below level 20), their LevelChange rows, and the caps of rows
    of later days created before the close (mail sent just after midnight)."""
    top = levels.top_level()
    changes = []
    for domain, decision in moves:
        from_level = domain.level
        domain.level = from_level - 1
        if domain.level < top:
            domain.custom_cap = None  # losing level 20 drops the custom cap (SPEC §3)
        log.info("domain %s level %s -> %s by %s %s", domain.name, from_level, domain.level, decision.rule,
                 decision.values)
        changes.append(LevelChange(
            domain=domain, day=day, effective_at=effective_at, from_level=from_level, to_level=domain.level,
            rule=decision.rule, metrics=decision.values,
        ))
    SenderDomain.objects.bulk_update([domain for domain, _ in moves], ["level", "custom_cap"])
    LevelChange.objects.bulk_create(changes)
    by_id = {domain.pk: domain for domain, _ in moves}
    later = list(DomainDay.objects.filter(domain_id__in=list(by_id), day__gt=day).only("pk", "domain_id"))
    for row in later:
        row.level, row.cap = by_id[row.domain_id].level, by_id[row.domain_id].daily_cap
    if later:
        DomainDay.objects.bulk_update(later, ["level", "cap"])
    return changes


def close_due_days(until: dt.date | None = None) -> list[ClosedDay]:
    """Close, oldest first, every past day that has counters or freezes and no ClosedDay yet.

    `until` (default yesterday) is the last day to close; evaluate_reputation --date uses it.
    """
    today = platform_today()
    last_day = min(until, today - dt.timedelta(days=1)) if until else today - dt.timedelta(days=1)
    last_closed = ClosedDay.objects.order_by("-day").values_list("day", flat=True).first()
    open_days = DomainDay.objects.filter(day__lt=today, closed_at__isnull=True).order_by("day")
    first = open_days.values_list("day", flat=True).first()
    first_freeze = (
        AccountFreeze.objects.filter(day__lt=today, ended_at__isnull=True).order_by("day")
        .values_list("day", flat=True).first()
    )
    candidates = [d for d in (first, first_freeze) if d is not None]
    if last_closed is not None:
        candidates.append(last_closed + dt.timedelta(days=1))
    if not candidates:
        return []
    day = min(candidates)
    closed = []
    while day <= last_day:
        closed.append(close_day(day))
        day += dt.timedelta(days=1)
    return closed


def domains_today(account: Account) -> list[tuple[SenderDomain, DomainDay | None, str | None]]:
    """The account's domains with today's row (if any) and pending downgrade, for lists and the API."""
    today = platform_today()
    domain_list = list(account.domains.order_by("name"))
    rows = {r.domain_id: r for r in DomainDay.objects.filter(domain__in=domain_list, day=today)}
    return [(d, rows.get(d.pk), pending_downgrade(d, rows.get(d.pk))) for d in domain_list]
