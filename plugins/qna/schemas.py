"""Request schemas (validated before a handler runs) and the response shapes.

Responses are built by plain functions rather than marshmallow dumps: they run
for every entry of every page, and the contract fixes their exact shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from core.jsonutil import utc_iso

from .models import CANCELLED, PENDING, QNA, QNAOrder, Tag

TEXT_MAX = 10_000
MAX_TAGS = 20


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Field may not be blank.")


def _text(*, required: bool, max_length: int = TEXT_MAX, **kw: Any) -> fields.String:
    return fields.String(
        required=required, validate=[validate.Length(min=1, max=max_length), _not_blank], **kw
    )


class AskIn(Schema):
    q1 = _text(required=True, data_key="Q1")
    q2 = fields.String(load_default=None, allow_none=True, data_key="Q2", validate=validate.Length(max=TEXT_MAX))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=list,
        validate=validate.Length(max=MAX_TAGS),
    )


class TagIn(Schema):
    name = _text(required=True, max_length=100)


class LockIn(Schema):
    qna = fields.String(required=True, validate=validate.Length(min=1, max=64))
    status = fields.String(
        required=True,
        validate=validate.OneOf([PENDING, CANCELLED], error="Must be PD (take) or CL (cancel)."),
    )


class AnswerIn(Schema):
    id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    answer = _text(required=True)
    suggestion = _text(required=True)


class PageQuery(Schema):
    """`page` is 1-based; `page_size` is capped at the configured maximum, not rejected."""

    class Meta:
        unknown = EXCLUDE  # the query also carries e.g. `access_token`

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=None, validate=validate.Range(min=1))


class PendingQuery(PageQuery):
    alias = fields.String(load_default=None)
    tag = fields.String(load_default=None)


def day(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d")


def stamp(value: dt.datetime | None) -> str | None:
    return utc_iso(value, millis=False)


def tag_out(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "alias": tag.alias}


def _question_base(qna: QNA) -> dict[str, Any]:
    return {
        "id": qna.id,
        "Q1": qna.q1,
        "Q2": qna.q2,
        "alias": qna.alias,
        "created_at": day(qna.created_at),
        "tag": [tag_out(t) for t in qna.tags],
    }


def pending_entry(qna: QNA, active_expiration: dt.datetime | None) -> dict[str, Any]:
    """The coach's view: whether someone holds a live order on it, and until when."""
    entry = _question_base(qna)
    entry["accepted_order"] = active_expiration is not None
    entry["expiration"] = stamp(active_expiration)
    return entry


def question_out(qna: QNA) -> dict[str, Any]:
    """The asker's view: the question, and its answer once there is one."""
    out = _question_base(qna)
    out["user"] = qna.user_id
    out["answer"] = qna.answer
    out["suggestion"] = qna.suggestion
    out["answered_at"] = stamp(qna.answered_at)
    out["answered_by"] = qna.answered_by
    return out


def order_out(order: QNAOrder, qna_alias: str) -> dict[str, Any]:
    return {
        "id": order.id,
        "qna": qna_alias,
        "coach": order.coach_id,
        "status": order.status,
        "created_at": stamp(order.created_at),
        "expiration": stamp(order.expiration),
        "closed_at": stamp(order.closed_at),
        "cancel_reason": order.cancel_reason,
    }
