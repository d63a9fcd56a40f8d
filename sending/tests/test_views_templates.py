"""The templates pages: list, editor with the review result, the sandboxed preview, delete, test send."""

import json

import pytest

from sending import services
from sending.models import Message, SenderAddress, Suppression, Template

pytestmark = pytest.mark.django_db

CLEAN_HTML = '<p>Hello {{name}}</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'


@pytest.fixture
def template(account):
    return services.create_template(account, name="Welcome", subject="Hi {{name}}", html=CLEAN_HTML)


@pytest.fixture
def sender(account, verified_domain):
    return services.create_sender_address(account, "news@mail.alice.example", "Alice News")


def form_data(**overrides):
    data = {"name": "Spring sale", "subject": "Spring is here", "html": CLEAN_HTML, "text": ""}
    data.update(overrides)
    return data


# --- list and create -----------------------------------------------------------------------------


def test_the_list_shows_each_template_with_its_status_and_reasons(client, owner, account, template):
    services.create_template(account, name="Contact us", subject="Hi", text="Add me on WeChat: abc_123")
    client.force_login(owner)
    response = client.get("/templates/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Welcome" in html and "Approved" in html
    assert "Contact us" in html and "Rejected" in html and "[wechat]" in html and "abc_123" in html


def test_the_list_does_not_show_another_accounts_templates(client, outsider, template):
    client.force_login(outsider)
    assert "Welcome" not in client.get("/templates/").content.decode()


def test_a_clean_template_is_created_approved_and_its_page_says_so(client, member):
    client.force_login(member)
    response = client.post("/templates/new/", form_data(), follow=True)
    template = Template.objects.get(name="Spring sale")
    assert template.status == Template.APPROVED
    assert response.redirect_chain[-1][0] == f"/templates/{template.pk}/"
    assert "saved and approved" in response.content.decode()


def test_a_rejected_template_shows_the_rule_and_the_quoted_text(client, owner):
    client.force_login(owner)
    response = client.post("/templates/new/", form_data(text="Questions? WeChat: shop_8888"), follow=True)
    template = Template.objects.get(name="Spring sale")
    assert template.status == Template.REJECTED
    html = response.content.decode()
    assert "Rejected" in html
    assert '<span class="badge badge-bad">wechat</span>' in html
    assert '<q class="finding-quote">' in html and "WeChat: shop_8888" in html


def test_a_template_without_unsubscribe_link_shows_the_warning(client, owner):
    client.force_login(owner)
    response = client.post("/templates/new/", form_data(html="<p>Hello</p>"), follow=True)
    assert Template.objects.get().status == Template.APPROVED
    html = response.content.decode()
    assert "Approved with a note" in html and "missing_unsubscribe" in html


def test_a_template_needs_a_name_a_subject_and_some_content(client, owner):
    client.force_login(owner)
    for bad in (form_data(name=""), form_data(subject=""), form_data(html="", text="  ")):
        response = client.post("/templates/new/", bad)
        assert response.status_code == 400
        assert "field-errors" in response.content.decode() or "form-errors" in response.content.decode()
    assert Template.objects.count() == 0


def test_a_malformed_placeholder_is_refused_with_the_services_error(client, owner):
    client.force_login(owner)
    response = client.post("/templates/new/", form_data(html="<p>Hello {{ first name }}</p>"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "is not a valid placeholder" in html and "InvalidParameterValue.TemplateContentIsWrong" in html
    assert Template.objects.count() == 0


# --- edit ----------------------------------------------------------------------------------------


def test_the_template_page_shows_the_editor_filled_in(client, owner, template):
    client.force_login(owner)
    response = client.get(f"/templates/{template.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Welcome"' in html and "Hi {{name}}" in html and "Approved" in html


def test_an_edit_is_reviewed_again(client, owner, template):
    client.force_login(owner)
    response = client.post(f"/templates/{template.pk}/", form_data(name="Welcome", html="<p>QQ: 12345678</p>"), follow=True)
    template.refresh_from_db()
    assert template.status == Template.REJECTED and "QQ: 12345678" in template.html
    html = response.content.decode()
    assert '<span class="badge badge-bad">qq</span>' in html and "QQ: 12345678" in html


def test_a_refused_edit_changes_nothing(client, owner, template):
    client.force_login(owner)
    response = client.post(f"/templates/{template.pk}/", form_data(name="Renamed", subject="x" * 501))
    assert response.status_code == 400
    template.refresh_from_db()
    assert template.name == "Welcome" and template.subject == "Hi {{name}}"


def test_an_outsider_gets_404_for_every_template_url(client, outsider, template):
    client.force_login(outsider)
    for url in ("", "preview/", "delete/"):
        assert client.get(f"/templates/{template.pk}/{url}").status_code == 404, url
    assert client.post(f"/templates/{template.pk}/", form_data()).status_code == 404
    assert client.post(f"/templates/{template.pk}/delete/").status_code == 404
    assert client.post(f"/templates/{template.pk}/send/", {"recipients": "a@example.org"}).status_code == 404
    template.refresh_from_db()
    assert template.name == "Welcome"


# --- preview -------------------------------------------------------------------------------------


def test_the_page_embeds_the_preview_in_a_sandboxed_iframe(client, owner, template):
    client.force_login(owner)
    html = client.get(f"/templates/{template.pk}/").content.decode()
    assert f'<iframe sandbox="" src="/templates/{template.pk}/preview/"' in html


def test_the_preview_is_served_under_a_csp_that_runs_no_script(client, owner, account):
    evil = services.create_template(
        account, name="Evil", subject="Hi", html="<p>Hi</p><script>alert(document.cookie)</script>"
    )
    client.force_login(owner)
    response = client.get(f"/templates/{evil.pk}/preview/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    csp = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert "img-src data: https:" in csp and "style-src 'unsafe-inline'" in csp
    assert not any(part.startswith("script-src") for part in csp)
    # Only the console itself may frame it.
    assert response["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in csp
    assert "<script>" in response.content.decode()  # shown as stored; the CSP and sandbox keep it inert


def test_a_text_only_template_previews_as_escaped_text(client, owner, account):
    plain = services.create_template(
        account, name="Plain", subject="Hi", text="<b>not bold</b> {{unsubscribe_url}}", transactional=True
    )
    client.force_login(owner)
    body = client.get(f"/templates/{plain.pk}/preview/").content.decode()
    assert "&lt;b&gt;not bold&lt;/b&gt;" in body and "<b>" not in body


# --- delete --------------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_then_deletes(client, owner, template):
    client.force_login(owner)
    assert "Delete the template" in client.get(f"/templates/{template.pk}/delete/").content.decode()
    assert Template.objects.count() == 1
    assert client.post(f"/templates/{template.pk}/delete/").status_code == 302
    assert Template.objects.count() == 0


# --- test send -----------------------------------------------------------------------------------


def send(client, template, **overrides):
    data = {"from_address": "news@mail.alice.example", "recipients": "ann@example.org", "template_data": '{"name": "Ann"}'}
    data.update(overrides)
    return client.post(f"/templates/{template.pk}/send/", data)


def test_a_test_send_queues_one_message_per_recipient_and_shows_their_message_ids(client, owner, template, sender):
    client.force_login(owner)
    response = send(client, template, recipients="ann@example.org,\nbob@example.org ; cat@example.org")
    assert response.status_code == 200
    messages = Message.objects.order_by("recipient")
    assert [m.recipient for m in messages] == ["ann@example.org", "bob@example.org", "cat@example.org"]
    assert messages[0].subject == "Hi Ann"
    html = response.content.decode()
    assert "Queued 3 messages" in html
    for message in messages:
        assert message.message_id in html


def test_an_htmx_test_send_gets_only_the_send_section(client, owner, template, sender):
    client.force_login(owner)
    response = client.post(
        f"/templates/{template.pk}/send/",
        {"from_address": sender.email, "recipients": "ann@example.org", "template_data": '{"name": "Ann"}'},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert 'id="test-send"' in html and "<nav" not in html
    assert Message.objects.get().message_id in html


def test_the_from_choices_are_the_accounts_sender_addresses(client, owner, template, sender, other_account):
    from domains.models import SenderDomain
    from domains.services import create_domain

    theirs = create_domain(other_account, "mail.charlie.example")
    theirs.status = SenderDomain.VERIFIED
    theirs.save(update_fields=["status"])
    SenderAddress.objects.create(account=other_account, domain=theirs, email="boss@mail.charlie.example")
    client.force_login(owner)
    html = client.get(f"/templates/{template.pk}/").content.decode()
    assert "news@mail.alice.example" in html and "boss@mail.charlie.example" not in html
    response = send(client, template, from_address="boss@mail.charlie.example")
    assert response.status_code == 400 and Message.objects.count() == 0


@pytest.mark.parametrize(
    "overrides, shown",
    [
        ({"recipients": ""}, "This field is required"),
        ({"recipients": ", ".join(f"r{n}@example.org" for n in range(51))}, "At most 50 recipients"),
        ({"recipients": "not-an-address"}, "InvalidParameterValue.ReceiverEmailInvalid"),
        ({"template_data": "{name: Ann"}, "Not valid JSON"),
        ({"template_data": '["Ann"]'}, "must be a JSON object"),
        ({"template_data": '{"name": "<b>Ann</b>"}'}, "InvalidParameterValue.InValidTemplateData"),
        ({"template_data": "{}"}, "InvalidParameterValue.TemplateNotMatchData"),
        # JSON's own escape of a NUL passes the console's check of the field: the service refuses it.
        ({"template_data": '{"na\\u0000me": "Ann"}'}, "na\\u0000me: the variable name contains U+0000"),
        ({"template_data": '{"name": "A\\u0000"}'}, "name: the value contains U+0000"),
    ],
)
def test_bad_test_send_input_shows_the_error_and_sends_nothing(client, owner, template, sender, overrides, shown):
    client.force_login(owner)
    response = send(client, template, **overrides)
    assert response.status_code == 400
    assert shown in response.content.decode()
    assert Message.objects.count() == 0


def test_a_rejected_template_cannot_be_test_sent(client, owner, account, sender):
    rejected = services.create_template(account, name="Bad", subject="Hi", text="WeChat: shop_8888")
    client.force_login(owner)
    response = send(client, rejected, template_data="{}")
    assert response.status_code == 400
    assert "OperationDenied.TemplateStatusError" in response.content.decode()
    assert Message.objects.count() == 0


def test_a_test_send_reviews_the_template_filled_in_with_the_variables(client, owner, account, sender):
    contact = services.create_template(account, name="Contact", subject="Hi {{name}}",
                                       text="Questions? WeChat: {{contact}}", transactional=True)
    assert contact.status == Template.APPROVED
    client.force_login(owner)

    response = send(client, contact, template_data='{"name": "Ann", "contact": "abc_123"}')

    assert response.status_code == 400
    html = response.content.decode()
    assert "InvalidParameterValue.InValidTemplateData" in html and "WeChat contact details are not allowed." in html
    assert Message.objects.count() == 0
    assert send(client, contact, template_data='{"name": "Ann", "contact": "the desk"}').status_code == 200


def test_a_blacklisted_recipient_is_refused_with_its_code(client, owner, account, template, sender):
    Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST)
    client.force_login(owner)
    response = send(client, template, recipients="ann@example.org, gone@example.org")
    assert response.status_code == 400
    html = response.content.decode()
    assert "FailedOperation.EmailAddrInBlacklist" in html and "gone@example.org" in html
    assert Message.objects.count() == 0


def test_the_from_address_and_variables_stay_filled_in_for_the_next_send(client, owner, template, sender):
    client.force_login(owner)
    html = send(client, template, template_data=json.dumps({"name": "Zoë"}, ensure_ascii=False)).content.decode()
    assert "{&quot;name&quot;: &quot;Zo\u00eb&quot;}" in html
    assert '<option value="news@mail.alice.example" selected>' in html


def test_send_refuses_get(client, owner, template):
    client.force_login(owner)
    assert client.get(f"/templates/{template.pk}/send/").status_code == 405


def test_the_sending_pages_carry_no_inline_script_or_style_so_the_csp_holds(client, owner, template, sender):
    client.force_login(owner)
    for url in ("/addresses/", "/templates/", "/templates/new/", f"/templates/{template.pk}/", "/blacklist/", "/log/"):
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert "<script>" not in html and " style=" not in html and "<style" not in html, url
