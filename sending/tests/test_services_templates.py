"""Templates are reviewed on create and every edit; staff override the verdict, logged."""

import pytest

from accounts.models import StaffActionLog
from sending.models import SensitiveWord, Template
from sending.services import SendError, create_template, set_template_status, update_template

UNSUB = '<a href="{{unsubscribe_url}}">unsubscribe</a>'


def refused(call) -> SendError:
    before = list(Template.objects.values_list("id", "name", "html", "text", "status"))
    with pytest.raises(SendError) as excinfo:
        call()
    assert list(Template.objects.values_list("id", "name", "html", "text", "status")) == before
    return excinfo.value


def test_clean_content_is_approved_at_once(account):
    template = create_template(account, name="Receipt", subject="Your receipt", html=f"<p>Thanks {{{{name}}}}</p>{UNSUB}")

    assert template.status == Template.APPROVED
    assert (template.review_reason, template.review_warnings, template.reviewed_by) == ("", "", "automatic")


def test_a_marketing_template_without_an_unsubscribe_link_is_approved_with_a_warning(account):
    template = create_template(account, name="Sale", subject="Sale", text="Everything half price.")

    assert template.status == Template.APPROVED
    assert "[missing_unsubscribe]" in template.review_warnings
    assert template.review_reason == ""


def test_a_transactional_template_needs_no_unsubscribe_link(account):
    template = create_template(account, name="Code", subject="Code", text="{{code}}", transactional=True)
    assert (template.status, template.review_warnings) == (Template.APPROVED, "")


def test_a_wechat_id_is_rejected_with_the_rule_and_the_quoted_text(account):
    template = create_template(account, name="Promo", subject="Hi", text=f"Add WeChat: abc_123 now {UNSUB}")

    assert template.status == Template.REJECTED
    assert "[wechat]" in template.review_reason
    assert "WeChat: abc_123" in template.review_reason


def test_the_sensitive_word_list_is_matched_across_full_width_forms(account):
    SensitiveWord.objects.create(word="casino")

    template = create_template(account, name="Fun", subject="Ｃａｓｉｎｏ night", text=UNSUB)

    assert template.status == Template.REJECTED
    assert "[sensitive_word] (subject)" in template.review_reason
    assert "Ｃａｓｉｎｏ" in template.review_reason


def test_an_edit_is_reviewed_again(account):
    template = create_template(account, name="Promo", subject="Hi", text=f"Hello {UNSUB}")

    update_template(template, text=f"QQ: 12345678 {UNSUB}")
    template.refresh_from_db()
    assert template.status == Template.REJECTED
    assert "[qq]" in template.review_reason

    update_template(template, text=f"Hello again {UNSUB}")
    template.refresh_from_db()
    assert (template.status, template.review_reason) == (Template.APPROVED, "")


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"name": ""}, "InvalidParameterValue.TemplateNameIsNULL"),
        ({"name": "x" * 101}, "InvalidParameterValue.TemplateNameIllegal"),
        ({"html": "", "text": ""}, "InvalidParameterValue.TemplateContentIsNULL"),
        ({"text": "Hello {{ first name }}"}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"text": "Hello {{name"}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"html": "<p>{{}}</p>"}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"text": "nul \x00 byte"}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"subject": "two\nlines"}, "InvalidParameterValue.SubjectLengthError"),
        ({"text": "x" * (1024 * 1024 + 1)}, "FailedOperation.TemplateContentToolarge"),
    ],
)
def test_malformed_templates_are_input_errors_and_nothing_is_saved(account, fields, code):
    values = {"name": "T", "subject": "S", "html": "", "text": "Hello", **fields}
    assert refused(lambda: create_template(account, **values)).code == code


def test_a_malformed_edit_changes_nothing(account):
    template = create_template(account, name="T", subject="S", text=f"Hello {UNSUB}")
    assert refused(lambda: update_template(template, text="{{broken")).code == "InvalidParameterValue.TemplateContentIsWrong"


def test_staff_approve_a_rejected_template_and_it_is_logged(account, staff_user):
    template = create_template(account, name="Promo", subject="Hi", text=f"WeChat: abc_123 {UNSUB}")

    set_template_status(template, Template.APPROVED, staff_user, "their own support account")

    template.refresh_from_db()
    assert (template.status, template.review_reason, template.reviewed_by) == (
        Template.APPROVED, "", staff_user.get_username()
    )
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.detail) == (staff_user, "template_approved", "their own support account")
    assert "Promo" in log.target


def test_staff_reject_with_a_reason_the_customer_reads(account, staff_user):
    template = create_template(account, name="Promo", subject="Hi", text=f"Hello {UNSUB}")

    set_template_status(template, Template.REJECTED, staff_user, "phishing look-alike")

    template.refresh_from_db()
    assert (template.status, template.review_reason) == (Template.REJECTED, "[staff] phishing look-alike")
    assert StaffActionLog.objects.get().action == "template_rejected"


def test_staff_cannot_reject_without_a_reason(account, staff_user):
    template = create_template(account, name="Promo", subject="Hi", text=f"Hello {UNSUB}")
    with pytest.raises(SendError):
        set_template_status(template, Template.REJECTED, staff_user, "  ")
    template.refresh_from_db()
    assert template.status == Template.APPROVED
    assert not StaffActionLog.objects.exists()
