"""Templates: CreateEmailTemplate, GetEmailTemplate, ListEmailTemplates, UpdateEmailTemplate,
DeleteEmailTemplate. As in the SDK, TemplateContent carries the HTML and the text base64-encoded;
templates made through the API have no subject of their own (SendEmail's Subject gives it)."""

from __future__ import annotations

import base64
import binascii

from django.utils.translation import gettext as _

from accounts.models import Account
from api.errors import ApiError
from api.params import Params
from api.registry import action
from sending import services
from sending.models import Template
from sending.review_text import translate_reason
from sending.services import SendError

CONTENT_IS_WRONG = "InvalidParameterValue.TemplateContentIsWrong"


def _decode(content: dict, name: str) -> str:
    value = content.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError("InvalidParameter", _("TemplateContent.%(name)s must be a base64 string.") % {"name": name})
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ApiError(CONTENT_IS_WRONG, _("TemplateContent.%(name)s is not base64-encoded UTF-8 text.") % {"name": name}) from None


def _content(p: Params, required: bool) -> tuple[str, str] | None:
    content = p.mapping("TemplateContent", required=required)
    if content is None:
        return None
    return _decode(content, "Html"), _decode(content, "Text")


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _template_id(p: Params) -> int:
    return p.integer("TemplateID", minimum=1)


def _review_reason(template: Template) -> str:
    # Stored in English; the SDK reads it in X-TC-Language.
    return "\n".join(translate_reason(part) for part in (template.review_reason, template.review_warnings) if part)


@action("CreateEmailTemplate", errors=(SendError,))
def create_email_template(account: Account, p: Params) -> dict:
    name = p.string("TemplateName")
    html, text = _content(p, required=True)
    template = services.create_template(account, name=name, html=html, text=text)
    return {"TemplateID": template.pk}


@action("GetEmailTemplate", errors=(SendError,))
def get_email_template(account: Account, p: Params) -> dict:
    template = services.template_for_account(account, _template_id(p))
    return {
        "TemplateContent": {"Html": _encode(template.html), "Text": _encode(template.text)},
        "TemplateStatus": template.status,
        "TemplateName": template.name,
    }


@action("ListEmailTemplates")
def list_email_templates(account: Account, p: Params) -> dict:
    limit = p.integer("Limit", required=False, default=100, minimum=1, maximum=1000)
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    templates = Template.objects.filter(account=account).order_by("-created_at", "-id")
    return {
        "TemplatesMetadata": [
            {
                "CreatedTimestamp": int(template.created_at.timestamp()),
                "TemplateName": template.name,
                "TemplateStatus": template.status,
                "TemplateID": template.pk,
                "ReviewReason": _review_reason(template),
            }
            for template in templates[offset: offset + limit]
        ],
        "TotalCount": templates.count(),
    }


@action("UpdateEmailTemplate", errors=(SendError,))
def update_email_template(account: Account, p: Params) -> dict:
    template_id = _template_id(p)
    name = p.string("TemplateName", required=False)
    content = _content(p, required=False)
    template = services.template_for_account(account, template_id)
    html, text = content if content is not None else (None, None)
    services.update_template(template, name=name, html=html, text=text)
    return {}


@action("DeleteEmailTemplate", errors=(SendError,))
def delete_email_template(account: Account, p: Params) -> dict:
    services.delete_template(services.template_for_account(account, _template_id(p)))
    return {}
