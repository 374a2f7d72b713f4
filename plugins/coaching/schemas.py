"""Request bodies and queries of the management routes (the export's field names).

Each schema's fields map to model columns through the `COLUMNS` tables, so the
services apply a validated body without a field-by-field copy.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, fields, validate

from .models import CLASSIFICATIONS, POINT_TYPES, TODO_STATUSES


def _text(max_length: int = 255, **kw) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kw)


def _ids(**kw) -> fields.List:
    """`coachingFormIds`: at least one session, no more than a form could sensibly share."""
    count = validate.Length(min=1, max=50, error="Give between {min} and {max} coaching session ids.")
    return fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=count, **kw)


class SessionCreate(Schema):
    agentId = fields.String(required=True, validate=validate.Length(min=1, max=36))
    meetingDate = fields.AwareDateTime(required=True, default_timezone=dt.timezone.utc)
    coachingFormName = _text()
    coachingTemplateId = _text(64)
    coachingTemplateName = _text()
    meetingFormat = _text(64)
    coachNotes = _text(20000)


class SessionCoachPatch(Schema):
    """What a coach (or an admin) may change; sharing and confirming have their own routes."""

    agentId = fields.String(validate=validate.Length(min=1, max=36))
    meetingDate = fields.AwareDateTime(default_timezone=dt.timezone.utc)
    coachingFormName = _text()
    coachingTemplateId = _text(64)
    coachingTemplateName = _text()
    meetingFormat = _text(64)
    coachNotes = _text(20000)


class SessionPatch(SessionCoachPatch):
    """The route's body: coach fields plus `agentNotes`, which only the agent writes."""

    agentNotes = _text(20000)


SESSION_COLUMNS = {
    "agentId": "agent_id",
    "meetingDate": "meeting_date",
    "coachingFormName": "coaching_form_name",
    "coachingTemplateId": "coaching_template_id",
    "coachingTemplateName": "coaching_template_name",
    "meetingFormat": "meeting_format",
    "coachNotes": "coach_notes",
    "agentNotes": "agent_notes",
}


class PointFields(Schema):
    type = fields.String(validate=validate.OneOf(POINT_TYPES))
    classification = fields.String(validate=validate.OneOf(CLASSIFICATIONS))
    ticketId = _text()
    subject = _text(1024)
    rubricName = _text()
    criteriaName = _text()
    kpiName = _text()
    score = _text(64)
    coachNotes = _text(20000)


class PointCreate(PointFields):
    coachingFormIds = _ids(required=True)


class PointPatch(PointFields):
    """Coach fields, plus `agentNotes`, which only the agent of a shared session writes."""

    coachingFormIds = _ids()
    agentNotes = _text(20000)


POINT_COLUMNS = {
    "type": "type",
    "classification": "classification",
    "ticketId": "ticket_id",
    "subject": "subject",
    "rubricName": "rubric_name",
    "criteriaName": "criteria_name",
    "kpiName": "kpi_name",
    "score": "score",
    "coachNotes": "coach_notes",
    "agentNotes": "agent_notes",
}


class TodoFields(Schema):
    actionString = _text()
    description = _text(20000)
    link = fields.String(validate=validate.Length(max=2048))
    type = _text(64)


class TodoCreate(TodoFields):
    coachingFormIds = _ids(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=255))


class TodoPatch(TodoFields):
    coachingFormIds = _ids()
    title = fields.String(validate=validate.Length(min=1, max=255))
    status = fields.String(validate=validate.OneOf(TODO_STATUSES))


TODO_COLUMNS = {
    "actionString": "action_string",
    "description": "description",
    "link": "link",
    "type": "type",
    "title": "title",
    "status": "status",
}


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
