"""Two accounts' checks verifying one name at the same moment: exactly one owns it (issue 12, finding 6).

Real processes against PostgreSQL, each checking its own account's claims through the real DNS code
(tests/dnsstub.py) with both tokens published, every round started at the same instant. SQLite's test
database lives in this process's memory, so the embedded run cannot share it with others.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from domains.models import SenderDomain
from domains.services import create_domain, records_for
from notify.models import Notification

pytestmark = [
    pytest.mark.postgres(reason="needs a database server shared by several processes"),
]

ROUNDS = 8
ROUND_SECONDS = 0.4

WORKER = """
import json, sys, time
import django
django.setup()
from domains.models import SenderDomain
from domains.services import ClaimRemoved, check_dns

claims = [SenderDomain.objects.get(pk=pk) for pk in json.loads(sys.argv[1])]
start, step = float(sys.argv[2]), float(sys.argv[3])
won = lost = 0
for n, claim in enumerate(claims):
    time.sleep(max(0.0, start + n * step - time.time()))
    try:
        check_dns(claim)
    except ClaimRemoved:
        lost += 1
    else:
        won += claim.is_verified
print(json.dumps({"won": won, "lost": lost}))
"""


def race(dns_stub, claims_by_account: list[list[SenderDomain]]) -> list[dict]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "sesconsole.settings",
        "SES_DNS_NAMESERVERS": "127.0.0.1", "SES_DNS_PORT": str(dns_stub.port),
    }
    root = Path(__file__).resolve().parents[2]
    start = time.time() + 4  # both processes have started Django by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps([c.pk for c in claims]), str(start), str(ROUND_SECONDS)],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for claims in claims_by_account
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err  # no deadlock, no IntegrityError escaping
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.django_db(transaction=True)
def test_two_checks_verifying_one_name_at_the_same_moment_leave_exactly_one_owner(account, other_account, dns_stub):
    # No members: the notices are recorded, and the workers (production settings) email nobody.
    names = [f"race{n}.bigbank-victim.test" for n in range(ROUNDS)]
    alices = [create_domain(account, name) for name in names]
    charlies = [create_domain(other_account, name) for name in names]
    for mine, theirs in zip(alices, charlies, strict=True):
        # The name's DNS holds both accounts' records: whichever check gets there first wins.
        for a, b in zip(records_for(mine), records_for(theirs), strict=True):
            dns_stub.set_txt(a.host, a.value, b.value)

    results = race(dns_stub, [alices, charlies])

    for name in names:
        assert list(SenderDomain.objects.filter(name=name).values_list("status", flat=True)) == ["verified"]
    assert [r["won"] + r["lost"] for r in results] == [ROUNDS, ROUNDS]
    assert sum(r["won"] for r in results) == ROUNDS
    owner_of = dict(SenderDomain.objects.values_list("name", "account_id"))
    notices = Notification.objects.filter(cause=Notification.DOMAIN_CLAIM_LOST)
    # One notice for each claim that lost, to the account that does not own the name.
    assert sorted(n.cause_key.split(":", 1)[1] for n in notices) == sorted(names)
    assert all(n.account_id != owner_of[n.cause_key.split(":", 1)[1]] for n in notices)
