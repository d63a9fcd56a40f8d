"""One sender domain's page: DNS records and Check now, today's counters, history, work orders, delete."""

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from django.utils import timezone

from accounts.models import AccountFreeze
from domains.models import DomainDay, LevelChange, SenderDomain, WorkOrder
from domains.services import records_for

pytestmark = pytest.mark.django_db


class DnsStub:
    """A UDP name server on 127.0.0.1 answering TXT questions from a dict; NXDOMAIN for the rest."""

    def __init__(self, txt: dict[str, list[str]]):
        self.txt = txt
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            values = self.txt.get(question.name.to_text().rstrip(".").lower())
            if values:
                # TXT character-strings are at most 255 bytes: long values are split, as DNS hosts do.
                chunks = [" ".join(f'"{v[i:i + 200]}"' for i in range(0, len(v), 200)) for v in values]
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *chunks))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), addr)

    def close(self):
        self.sock.close()


@pytest.fixture
def dns_stub(settings):
    stub = DnsStub({})
    settings.SES_DNS_NAMESERVERS = ["127.0.0.1"]
    settings.SES_DNS_PORT = stub.port
    settings.SES_DNS_TIMEOUT = 2
    yield stub
    stub.close()


@pytest.fixture
def pending_domain(account):
    from domains.services import create_domain

    return create_domain(account, "news.alice.example")


def publish(stub: DnsStub, domain: SenderDomain, kinds=("SPF", "DKIM", "DMARC", "VERIFICATION")):
    for record in records_for(domain):
        if record.kind in kinds:
            stub.txt[record.host] = [record.value]


# --- DNS records and Check now -------------------------------------------------------------------


def test_the_page_lists_the_four_records_to_publish(client, member, pending_domain):
    client.force_login(member)
    html = client.get(f"/domains/{pending_domain.pk}/").content.decode()
    for record in records_for(pending_domain):
        assert record.host in html
        assert record.value in html
    assert "not checked" in html
    assert "Pending verification" in html


def test_check_now_stores_each_result_and_verifies_a_fully_published_domain(client, member, pending_domain, dns_stub):
    publish(dns_stub, pending_domain)
    client.force_login(member)
    response = client.post(f"/domains/{pending_domain.pk}/check/", follow=True)
    pending_domain.refresh_from_db()
    assert pending_domain.is_verified
    assert {kind: r["ok"] for kind, r in pending_domain.dns_results.items()} == {"SPF": True, "DKIM": True, "DMARC": True, "VERIFICATION": True}
    html = response.content.decode()
    assert "is verified" in html
    assert html.count('<span class="badge badge-ok">ok</span>') == 4


def test_check_now_shows_a_missing_record_and_a_wrong_one(client, member, pending_domain, dns_stub):
    publish(dns_stub, pending_domain, kinds=("DMARC",))
    dns_stub.txt[pending_domain.name] = ["v=spf1 include:elsewhere.example ~all"]
    client.force_login(member)
    html = client.post(f"/domains/{pending_domain.pk}/check/", follow=True).content.decode()
    pending_domain.refresh_from_db()
    assert not pending_domain.is_verified
    results = pending_domain.dns_results
    assert results["DMARC"]["ok"] and not results["SPF"]["ok"] and not results["DKIM"]["ok"]
    assert "found, does not match" in html and "v=spf1 include:elsewhere.example ~all" in html
    assert "no such name (NXDOMAIN)" in html
    assert "some records are not published yet" in html


def test_an_htmx_check_returns_only_the_records_fragment(client, member, pending_domain, dns_stub):
    publish(dns_stub, pending_domain)
    client.force_login(member)
    response = client.post(f"/domains/{pending_domain.pk}/check/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="dns-records">')
    assert "<html" not in html and "Level history" not in html
    assert html.count('<span class="badge badge-ok">ok</span>') == 4
    assert "Verified" in html


def test_check_now_needs_a_post(client, member, pending_domain):
    client.force_login(member)
    assert client.get(f"/domains/{pending_domain.pk}/check/").status_code == 405


# --- Today's counters and history ----------------------------------------------------------------


def test_the_page_shows_todays_counters_and_the_five_rates(client, member, verified_domain):
    DomainDay.objects.create(
        domain=verified_domain, day=timezone.localdate(), level=1, cap=500,
        sent=400, delivered=350, invalid=20, spam=10, complaints=1, opened=200,
    )
    client.force_login(member)
    html = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "<dt>Sent today</dt><dd>400</dd>" in html
    assert "<dt>Remaining</dt><dd>100</dd>" in html
    for label, value in [
        ("Invalid address rate", "5.00%"), ("Delivery rate", "87.50%"), ("Spam bounce rate", "2.50%"),
        ("Complaint rate", "0.29%"), ("Open rate", "57.14%"),
    ]:
        assert f'<td>{label}</td><td class="num">{value}</td>' in html


def test_the_page_shows_the_level_history_with_rules_and_metrics(client, member, verified_domain):
    LevelChange.objects.create(
        domain=verified_domain, day=timezone.localdate(), effective_at=timezone.now(), from_level=1, to_level=2,
        rule="U1", metrics={"sent": "350", "sent_of_cap": "70.00", "invalid_rate": "1.00", "delivery_rate": "95.00"},
    )
    client.force_login(member)
    html = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "1 → 2" in html
    assert "U1 — invalid &lt; 5%" in html
    assert "sent 350 · 70.00% of cap · invalid 1.00% · delivery 95.00%" in html


def test_the_page_shows_the_accounts_freeze_history(client, member, staff_user, account, verified_domain):
    AccountFreeze.objects.create(
        account=account, day=timezone.localdate(), rule="F2",
        metrics={"sent": "400", "invalid_rate": "0.00", "spam_rate": "16.00"},
        lifted_at=timezone.now(), lifted_by=staff_user, lift_reason="customer cleaned the list",
    )
    client.force_login(member)
    html = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "spam bounce 16.00% of 400 sent" in html
    assert "by staff@sesconsole.test: customer cleaned the list" in html


# --- Work orders -----------------------------------------------------------------------------------


def test_below_level_20_the_work_order_form_is_not_offered(client, member, verified_domain):
    client.force_login(member)
    html = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert 'name="requested_cap"' not in html
    assert "possible only for a verified level-20" in html


def test_below_level_20_a_work_order_post_is_refused_and_writes_nothing(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=19)
    client.force_login(member)
    response = client.post(
        f"/domains/{verified_domain.pk}/work-order/", {"requested_cap": "2000000", "reason": "big launch"}
    )
    assert response.status_code == 403
    assert b"Work orders are for verified level-20 domains" in response.content
    assert WorkOrder.objects.count() == 0


def test_at_level_20_a_member_files_a_work_order_and_sees_it_listed(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    client.force_login(member)
    page = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert 'name="requested_cap"' in page
    response = client.post(
        f"/domains/{verified_domain.pk}/work-order/", {"requested_cap": "2500000", "reason": "Black Friday"},
        follow=True,
    )
    order = WorkOrder.objects.get(domain=verified_domain)
    assert (order.requested_cap, order.reason, order.filed_by) == (2_500_000, "Black Friday", member)
    html = response.content.decode()
    assert "Your work order is filed" in html
    assert "2,500,000" in html and "Pending" in html


def test_a_work_order_at_or_below_the_top_cap_is_refused(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    client.force_login(member)
    response = client.post(
        f"/domains/{verified_domain.pk}/work-order/", {"requested_cap": "1000000", "reason": "more"}
    )
    assert response.status_code == 400
    assert b"Ask for more than 1,000,000 messages a day." in response.content
    assert WorkOrder.objects.count() == 0


def test_a_second_work_order_waits_for_the_first(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    client.force_login(member)
    url = f"/domains/{verified_domain.pk}/work-order/"
    client.post(url, {"requested_cap": "2000000", "reason": "launch"})
    response = client.post(url, {"requested_cap": "3000000", "reason": "again"})
    assert response.status_code == 400
    assert b"already has a work order waiting" in response.content
    assert WorkOrder.objects.count() == 1


# --- Delete ----------------------------------------------------------------------------------------


def test_deleting_a_domain_asks_first_and_deletes_on_post(client, member, verified_domain):
    client.force_login(member)
    confirm = client.get(f"/domains/{verified_domain.pk}/delete/")
    assert b"cannot be undone" in confirm.content
    assert SenderDomain.objects.filter(pk=verified_domain.pk).exists()
    response = client.post(f"/domains/{verified_domain.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/domains/"
    assert not SenderDomain.objects.filter(pk=verified_domain.pk).exists()
    assert b"mail.alice.example is deleted" in response.content


# --- Tenant scoping --------------------------------------------------------------------------------


def test_another_account_gets_404_on_every_domain_action(client, outsider, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    client.force_login(outsider)
    pk = verified_domain.pk
    assert client.get(f"/domains/{pk}/").status_code == 404
    assert client.post(f"/domains/{pk}/check/").status_code == 404
    assert client.post(f"/domains/{pk}/work-order/", {"requested_cap": "2000000", "reason": "x"}).status_code == 404
    assert client.get(f"/domains/{pk}/delete/").status_code == 404
    assert client.post(f"/domains/{pk}/delete/").status_code == 404
    verified_domain.refresh_from_db()
    assert verified_domain.last_checked_at is None
    assert WorkOrder.objects.count() == 0
