"""Hooks the messaging plugin opens for other plugins.

Messaging never imports another plugin: enrollment rules for `studentTutor`
conversations, for example, belong to the tutoring plugin, which implements
`messaging_check_conversation` to veto conversations without a valid enrollment.
"""

from __future__ import annotations

from typing import Any

from core import hookspec


@hookspec
def messaging_check_conversation(app: Any, conversation: Any, actor: Any) -> Any:
    """Allow or veto a conversation before it is created (M1, and M4's implicit create).

    `conversation` is the unsaved `plugins.messaging.models.Conversation` (its
    `conversation_type`, `participant_a`, `participant_b`, `enrollment_id` are set);
    `actor` is the caller's `core.auth.identity.Identity`, or None for a system call.
    Return None to allow, or a message (str) to veto: the caller gets a 400
    `errMsg_ConversationNotAllowed` with that message as its detail. Raising a
    `core.errors.ApiError` answers with that error instead. An implementation may
    fill `conversation.course_title`. May be a coroutine.
    """


@hookspec
def messaging_enrollment_info(app: Any, enrollment_ids: list[str]) -> Any:
    """The `enrollment` join of conversations (M2, M3), for many ids at once.

    Return `{enrollmentId: {"coursePackId", "studentId", "tutorProfileId"}}` for the
    ids the plugin knows; unknown ids are left out (the join is then null). May be a coroutine.
    """
