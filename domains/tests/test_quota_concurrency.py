"""Concurrent processes never push a domain past its cap, not by one message (SPEC §3.5).

Real processes against PostgreSQL: each runs reserve_quota in a loop on the same hot domain. SQLite's
test database lives in this process's memory, so the embedded run cannot share it with others.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from domains.models import DomainDay

pytestmark = [
    pytest.mark.postgres(reason="needs a database server shared by several processes"),
]

WORKER = """
import json, sys
import django
django.setup()
from domains.models import SenderDomain
from domains.reputation.services import reserve_quota

domain = SenderDomain.objects.get(pk=int(sys.argv[1]))
batch, attempts = int(sys.argv[2]), int(sys.argv[3])
accepted = sum(reserve_quota(domain, ["r@gmail.com"] * batch).ok for _ in range(attempts))
print(json.dumps({"accepted": accepted}))
"""


def run_workers(domain, processes, batch, attempts):
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "sesconsole.settings"}
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(domain.pk), str(batch), str(attempts)],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]
    accepted = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        accepted.append(json.loads(out.strip().splitlines()[-1])["accepted"])
    return accepted


@pytest.mark.django_db(transaction=True)
def test_four_processes_racing_for_one_message_each_fill_the_cap_exactly(verified_domain):
    accepted = run_workers(verified_domain, processes=4, batch=1, attempts=200)
    row = DomainDay.objects.get(domain=verified_domain)
    assert row.cap == 500
    assert row.sent == 500
    assert sum(accepted) == 500
    assert all(n > 0 for n in accepted), "every process should have won some reservations"


@pytest.mark.django_db(transaction=True)
def test_reservations_of_several_messages_are_all_or_none_under_contention(verified_domain):
    accepted = run_workers(verified_domain, processes=4, batch=7, attempts=40)
    row = DomainDay.objects.get(domain=verified_domain)
    # 71 batches of 7 = 497 fit under 500; a 72nd would pass the cap and must be refused whole.
    assert sum(accepted) * 7 == row.sent == 497
    assert row.requested == row.sent
