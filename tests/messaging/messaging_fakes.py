"""A plugin that exists only for the messaging tests: it implements messaging's hooks."""

from __future__ import annotations

from importlib import metadata

from core import PluginSpec, hookimpl
from core.plugins import ENTRY_POINT_GROUP, Installed, installed_plugins


def installed_with(**targets: str) -> dict[str, Installed]:
    """The real installed plugins plus fakes given as {"name": "module:Class"}."""
    found = dict(installed_plugins())
    for name, target in targets.items():
        found[name] = Installed(name, target, "0.0.1", metadata.EntryPoint(name, target, ENTRY_POINT_GROUP))
    return found


class Vetoer:
    """Allows studentTutor conversations only with enrollment `good` (as tutoring would)."""

    spec = PluginSpec("vetoer", requires=("messaging",))

    @staticmethod
    @hookimpl
    async def messaging_check_conversation(app, conversation, actor):
        if conversation.conversation_type != "studentTutor":
            return None
        if conversation.enrollment_id != "good":
            return "Needs a valid enrollment."
        conversation.course_title = "Algebra I"
        return None

    @staticmethod
    @hookimpl
    def messaging_enrollment_info(enrollment_ids):
        return {"good": {"coursePackId": "cp-1", "studentId": "st-1", "tutorProfileId": "tp-1"}} if "good" in enrollment_ids else {}
