"""Wire shapes (the export's field names), built from ORM objects or Core rows alike.

Rows selected from a model's table expose the same attribute names as the ORM
object, so one function per shape serves the management views and the export,
which reads plain rows for speed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.jsonutil import utc_iso as _utc_iso


def utc_iso(value: dt.datetime | None) -> str | None:
    """`core.jsonutil.utc_iso`'s exact output, several times faster for the UTC values the
    database hands back (the export formats hundreds of thousands of them)."""
    if value is not None and value.tzinfo is dt.timezone.utc:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return _utc_iso(value)


def session_out(s: Any) -> dict[str, Any]:
    return {
        "_id": s.id,
        "coachingFormName": s.coaching_form_name,
        "coachingTemplateId": s.coaching_template_id,
        "coachingTemplateName": s.coaching_template_name,
        "meetingFormat": s.meeting_format,
        "formCreatorId": s.form_creator_id,
        "formCreatorName": s.form_creator_name,
        "coachName": s.coach_name,
        "coachId": s.coach_id,
        "agentId": s.agent_id,
        "agentName": s.agent_name,
        "createdAt": utc_iso(s.created_at),
        "updatedAt": utc_iso(s.updated_at),
        "sharedWithAgent": s.shared_with_agent,
        "meetingDate": utc_iso(s.meeting_date),
        "agentConfirmed": s.agent_confirmed,
        "coachConfirmed": s.coach_confirmed,
        "coachNotes": s.coach_notes,
        "agentNotes": s.agent_notes,
        "isDeleted": s.is_deleted,
    }


def activity_out(a: Any, *, with_ip: bool = True) -> dict[str, Any]:
    entry = {
        "userId": a.user_id,
        "userEmail": a.user_email,
        "actionType": a.action_type,
        "descriptions": list(a.descriptions or ()),
        "timestamp": utc_iso(a.timestamp),
    }
    if with_ip:
        entry["ipAddress"] = a.ip_address
    return entry


def point_out(p: Any, form_ids: list[str]) -> dict[str, Any]:
    return {
        "_id": p.id,
        "coachingFormIds": form_ids,
        "type": p.type,
        "classification": p.classification,
        "ticketId": p.ticket_id,
        "subject": p.subject,
        "rubricName": p.rubric_name,
        "criteriaName": p.criteria_name,
        "kpiName": p.kpi_name,
        "score": p.score,
        "agentNotes": p.agent_notes,
        "coachNotes": p.coach_notes,
        "createdAt": utc_iso(p.created_at),
        "updatedAt": utc_iso(p.updated_at),
        "isDeleted": p.is_deleted,
    }


def todo_out(t: Any, form_ids: list[str]) -> dict[str, Any]:
    return {
        "_id": t.id,
        "actionString": t.action_string,
        "coachingFormIds": form_ids,
        "completedAt": utc_iso(t.completed_at),
        "createdAt": utc_iso(t.created_at),
        "creatorId": t.creator_id,
        "creatorName": t.creator_name,
        "description": t.description,
        "link": t.link,
        "status": t.status,
        "title": t.title,
        "type": t.type,
        "updatedAt": utc_iso(t.updated_at),
        "isDeleted": t.is_deleted,
    }
