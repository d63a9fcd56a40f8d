"""Staff searches in Django admin find addresses and domains stored as IDNA A-labels when they type the
Unicode form (core.admin_search), and still find rows stored as typed."""

import pytest
from django.urls import reverse

from core.admin_search import a_label_search_term
from domains.services import create_domain
from sending.models import Message, Suppression

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def search(staff_client, model, term: str) -> list:
    """The rows the model's admin list shows for the search `term`."""
    opts = model._meta
    response = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def suppressions(account, other_account):
    for owner, email in [
        (account, "ann@xn--bcher-kva.example"),       # stored by clean_address: the A-label form
        (account, "bob@bücher.example"),               # a row from before A-labels, stored as typed
        (account, "carl@example.org"),
        (other_account, "dora@xn--bcher-kva.example"),
    ]:
        Suppression.objects.create(account=owner, email=email, reason=Suppression.BLACKLIST)


def emails(staff_client, term: str) -> list[str]:
    return sorted(row.email for row in search(staff_client, Suppression, term))


def test_a_unicode_domain_finds_the_a_label_rows_and_the_rows_stored_as_typed(staff_client, suppressions):
    assert emails(staff_client, "bücher") == [
        "ann@xn--bcher-kva.example", "bob@bücher.example", "dora@xn--bcher-kva.example",
    ]
    assert emails(staff_client, "ann@bücher.example") == ["ann@xn--bcher-kva.example"]
    assert emails(staff_client, "ANN@BÜCHER.example") == ["ann@xn--bcher-kva.example"]


def test_every_word_still_has_to_match(staff_client, suppressions):
    # "Alice Co" is the first account's name: the other account's row at the same domain is left out.
    assert emails(staff_client, "bücher Alice") == ["ann@xn--bcher-kva.example", "bob@bücher.example"]


def test_ascii_and_unconvertible_terms_search_as_typed(staff_client, suppressions):
    assert emails(staff_client, "carl") == ["carl@example.org"]
    assert emails(staff_client, "xn--bcher-kva") == ["ann@xn--bcher-kva.example", "dora@xn--bcher-kva.example"]
    assert emails(staff_client, "jürgen@") == []  # a non-ASCII local part has no A-label form
    assert emails(staff_client, "zz@-bü.example") == []  # a label IDNA refuses (a leading hyphen)
    assert a_label_search_term("carl example") is None
    assert a_label_search_term("jürgen@") is None
    assert a_label_search_term("zz@-bü.example") is None
    assert a_label_search_term("ann@bücher.example  Alice") == "ann@xn--bcher-kva.example Alice"


def test_sender_domains_and_messages_are_found_by_their_unicode_names(staff_client, account, other_account):
    from sending import services
    from sending.models import Template

    domain = create_domain(account, "bücher.example")
    create_domain(other_account, "other.example")
    assert domain.name == "xn--bcher-kva.example"
    assert [d.name for d in search(staff_client, type(domain), "bücher.example")] == ["xn--bcher-kva.example"]

    domain.status = type(domain).VERIFIED
    domain.save(update_fields=["status"])
    sender = services.create_sender_address(account, "news@bücher.example", "News")
    template = services.create_template(account, name="T", subject="Hi", html="<p>Hi</p>", text="Hi")
    Template.objects.filter(pk=template.pk).update(status=Template.APPROVED)
    services.send_email(account, from_address=sender.email, destinations=["eve@münchen.example", "fay@example.org"],
                        template_id=template.pk, template_data={}, subject="Hi")
    recipients = sorted(Message.objects.values_list("recipient", flat=True))
    assert recipients == ["eve@xn--mnchen-3ya.example", "fay@example.org"]
    assert [m.recipient for m in search(staff_client, Message, "münchen")] == ["eve@xn--mnchen-3ya.example"]
