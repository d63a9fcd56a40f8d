"""The console as its users meet it, in a real browser (headless Debian Chromium driven by Playwright).

Each journey is what a customer (or a staff member) does, click by click, from signing in. Every page
a journey reaches is checked (conftest.Journey.check): a screenshot under test-output/journeys/,
usable at 375 px, no CSP violation, and no serious or critical axe-core violation.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model

from batches.models import BatchTask, ReceiverList
from domains.models import SenderDomain, WorkOrder
from domains.services import create_domain, records_for
from sending import services as sending_services
from sending.models import Message, Template
from sending.tests.send_fixtures import set_sent
from tests.journeys.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "alice@example.com"


def test_sign_in(journey, owner):
    page = journey.page
    journey.goto("/dashboard/")
    page.wait_for_url(re.compile(r"/login/"))  # the console asks who you are first
    journey.check("login")

    page.fill("#id_username", EMAIL)
    page.fill("#id_password", "not the password")
    page.locator("#id_password").press("Enter")
    page.locator(".form-errors").wait_for()
    assert page.locator(".form-errors").inner_text().strip()  # says why, and nobody is signed in:
    assert page.url.startswith(journey.url("/login/"))

    # Keyboard only: Tab from the top of the page to the fields, type, Enter.
    page.fill("#id_username", "")
    page.fill("#id_password", "")
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_username":
            break
    assert page.evaluate("document.activeElement.id") == "id_username", "the e-mail field is not reachable by Tab"
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(journey.url("/dashboard/"))
    assert page.get_by_role("heading", level=1).is_visible()
    journey.check("dashboard")


def test_add_a_domain_and_check_its_dns(journey, owner, account, dns_stub):
    page = journey.page
    journey.sign_in(EMAIL)
    journey.goto("/domains/")
    journey.check("empty-list")

    # Keyboard only: the name field, then Enter submits the form.
    page.locator("#id_name").focus()
    page.keyboard.type("news.journey.example")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/domains/\d+/$"))
    domain = SenderDomain.objects.get(account=account, name="news.journey.example")
    records = records_for(domain)
    for record in records:  # the page lists every record to publish, with its exact value
        assert page.locator("#dns-records code", has_text=record.host).first.is_visible()
    journey.check("records")

    # The customer publishes SPF and DKIM but not yet DMARC, and asks for a check.
    published = [r for r in records if r.kind != "DMARC"]
    for record in published:
        dns_stub.set_txt(record.host, record.value)
    page.evaluate("window.noReload = true")
    page.get_by_role("button", name="Check now").click()
    page.locator("#dns-records .badge-bad").first.wait_for()
    assert page.locator("#dns-records .record .badge-ok").count() == len(published)
    assert page.evaluate("window.noReload") is True  # swapped in place by htmx
    domain.refresh_from_db()
    assert domain.status != SenderDomain.VERIFIED
    journey.check("check-missing-dmarc")

    dmarc = next(r for r in records if r.kind == "DMARC")
    dns_stub.set_txt(dmarc.host, dmarc.value)
    page.get_by_role("button", name="Check now").click()
    page.locator("#dns-records .badge-bad").first.wait_for(state="detached")
    assert page.locator("#dns-records .record .badge-ok").count() == len(records)
    domain.refresh_from_db()
    assert domain.status == SenderDomain.VERIFIED
    journey.check("verified")


def test_a_template_is_rejected_with_its_reason(journey, owner, account):
    page = journey.page
    journey.sign_in(EMAIL)
    journey.goto("/templates/new/")
    page.fill("#id_name", "Spring promotion")
    page.fill("#id_subject", "Our spring sale")
    page.fill("#id_html", "<p>Big discounts this week. Add me on WeChat: shop_2024 for coupons.</p>")
    page.fill("#id_text", "Big discounts this week. Add me on WeChat: shop_2024 for coupons.")
    page.locator("#id_text").press("Tab")
    page.locator("form.form button[type=submit]").press("Enter")
    page.wait_for_url(re.compile(r"/templates/\d+/$"))
    template = Template.objects.get(account=account, name="Spring promotion")
    assert template.status == Template.REJECTED
    review = page.locator("#review")
    assert review.locator(".error-text").is_visible()
    assert "shop_2024" in review.inner_text()  # the reason quotes what was found
    journey.check("rejected")

    # Fixing the content and saving reviews it again at once.
    page.fill("#id_html", '<p>Big discounts this week.</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>')
    page.fill("#id_text", "Big discounts this week.")
    with page.expect_navigation():
        page.locator("#review ~ section button[type=submit], form button[type=submit]").last.click()
    template.refresh_from_db()
    assert template.status == Template.APPROVED
    journey.check("approved")


def test_upload_a_recipient_list_and_see_the_bad_rows(journey, owner, account, worker):
    page = journey.page
    journey.sign_in(EMAIL)
    journey.goto("/lists/")
    rows = [["email", "name"]] + [[f"reader{n}@example.com", f"Reader {n}"] for n in range(1, 201)]
    rows += [["not-an-address", "Broken"], ["reader7@example.com", "Again"], ["someone@", "Half"]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    page.fill("#id_name", "Spring readers")
    page.set_input_files("#id_file", files=[{"name": "readers.csv", "mimeType": "text/csv",
                                             "buffer": buffer.getvalue().encode()}])
    page.locator("form[enctype] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/lists/\d+/$"))
    receiver_list = ReceiverList.objects.get(account=account, name="Spring readers")
    # The worker has not run yet: the page shows the upload's progress bar and keeps polling.
    assert page.locator("#upload-bar").is_visible()
    journey.check("importing")

    assert worker.work() >= 1  # the worker imports the file
    page.locator("#list-progress .badge-ok").wait_for()  # the page notices by itself
    receiver_list.refresh_from_db()
    assert receiver_list.status == ReceiverList.DONE
    assert receiver_list.count == 200
    text = page.locator("main").inner_text()
    for bad in ("not-an-address", "someone@"):
        assert bad in text, f"the refused row {bad!r} is not listed"
    journey.check("done")


def test_a_batch_pauses_at_the_cap_with_a_countdown(
    journey, owner, account, verified_domain, worker, smtp_sink
):
    from batches.tests.batch_fixtures import make_list

    page = journey.page
    sender = sending_services.create_sender_address(account, "news@mail.alice.example", "Alice News")
    sending_services.create_template(
        account, name="Welcome", subject="Welcome, {{name}}",
        html='<p>Hello {{name}}</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>', text="Hello {{name}}",
    )
    make_list(account, 40, name="Newsletter readers")
    set_sent(verified_domain, 480)  # level 1: 500 a day, 20 left

    journey.sign_in(EMAIL)
    journey.goto("/batches/new/")
    page.select_option("#id_sender", value=str(sender.pk))
    page.select_option("#id_receiver_list", value=str(ReceiverList.objects.get(name="Newsletter readers").pk))
    journey.check("new")
    page.get_by_role("button", name="Create task").click()
    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    task = BatchTask.objects.get(account=account)

    journey.goto("/queue/")
    page.evaluate("window.noReload = true")
    while worker.step():  # the worker takes the task chunk by chunk; the page follows by itself
        pass
    page.locator("time.countdown").wait_for(timeout=20_000)
    task.refresh_from_db()
    assert task.status == BatchTask.PAUSED
    assert Message.objects.filter(status=Message.DELIVERED).count() == 20
    assert len(smtp_sink.received) == 20
    countdown = page.locator("time.countdown").first.inner_text()
    assert countdown.startswith(("in 23 h", "in 24 h")), countdown
    assert page.evaluate("window.noReload") is True
    journey.check("paused")


def test_read_the_statistics_and_export_them(
    journey, owner, account, verified_domain, worker, settings, simulator_counts  # simulator mail as real traffic
):
    page = journey.page
    sim = settings.SES_SIMULATOR_DOMAIN
    sender = sending_services.create_sender_address(account, "news@mail.alice.example", "Alice News")
    template = sending_services.create_template(
        account, name="Welcome", subject="Welcome", html='<p>Hi</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
        text="Hi",
    )
    outcomes = ["success"] * 12 + ["open"] * 5 + ["click"] * 3 + ["bounce"] * 2 + ["spam"]
    for local in outcomes:
        sending_services.send_email(account, from_address=sender.email, destinations=[f"{local}@{sim}"],
                                    template_id=template.pk, template_data={}, subject="Welcome")
    worker.work()

    journey.sign_in(EMAIL)
    journey.goto("/stats/")
    page.locator("#volume-chart .main-svg").first.wait_for()
    page.locator("#rate-chart .main-svg").first.wait_for()
    assert page.locator("#volume-chart .scatterlayer .trace, #volume-chart .barlayer .trace").count() > 0
    # The rate chart draws the thresholds of the rules as lines beside the rates.
    assert page.locator("#rate-chart .shapelayer path").count() > 0
    labels = " ".join(t or "" for t in page.locator("#rate-chart .annotation-text").all_text_contents())
    assert re.search(r"\b[UD]\d\b", labels), labels
    requested = page.locator("#stats-totals div", has=page.locator("dt", has_text="Requested")).locator("dd")
    assert requested.inner_text() == str(len(outcomes))  # every send of today, counted once
    journey.check("page")

    with page.expect_download() as download_info:
        page.locator("#stats-csv").click()
    data = download_info.value.path().read_text()
    table = list(csv.DictReader(io.StringIO(data)))
    assert table, data
    columns = [k for k in table[0] if "request" in k.lower()]
    assert columns, table[0].keys()
    assert sum(int(r[columns[0]] or 0) for r in table if re.match(r"\d{4}-\d\d-\d\d", next(iter(r.values())))) == len(outcomes)


def test_a_work_order_on_a_level_20_domain_is_approved_by_staff(journey, owner, account, browser, live_server):
    page = journey.page
    domain = create_domain(account, "bulk.alice.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=20)

    journey.sign_in(EMAIL)
    journey.goto(f"/domains/{domain.pk}/")
    page.fill("#id_requested_cap", "2500000")
    page.fill("#id_reason", "Seasonal campaign for our 2.4 million subscribers.")
    with page.expect_navigation():
        page.get_by_role("button", name="File work order").click()
    order = WorkOrder.objects.get(domain=domain)
    assert order.status == WorkOrder.PENDING
    assert "2,500,000" in page.locator("#work-orders").inner_text()
    journey.check("filed")

    get_user_model().objects.create_superuser("staff@sesconsole.test", "staff@sesconsole.test", PASSWORD)
    staff = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    admin = staff.new_page()
    admin.goto(f"{live_server.url}/admin/login/?next=/admin/domains/workorder/")
    admin.fill("#id_username", "staff@sesconsole.test")
    admin.fill("#id_password", PASSWORD)
    admin.click("input[type=submit], button[type=submit]")
    admin.wait_for_url(re.compile(r"/admin/domains/workorder/"))
    admin.locator(f"input[name=_selected_action][value='{order.pk}']").check()
    admin.select_option("select[name=action]", "approve_action")
    admin.locator("button[name=index]").first.click()
    admin.locator("#id_cap").fill("2000000")
    admin.locator("#id_note").fill("Approved for the season.")
    admin.locator(".submit-row input[type=submit]").click()
    admin.locator(".messagelist .success").wait_for()
    admin.screenshot(path=journey.screenshot("filed").parent / f"{journey.name}-staff-approved.png", full_page=True)
    staff.close()

    order.refresh_from_db()
    assert order.status == WorkOrder.APPROVED
    page.reload()
    assert "2,000,000" in page.locator("#work-orders").inner_text()
    journey.check("approved")
