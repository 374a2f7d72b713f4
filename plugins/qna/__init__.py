"""QnA: students ask, coaches take an order (24 h, at most 3 at once) and answer."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import PluginSpec, hookimpl


class QnaConfig(Schema):
    """`[qna]` settings. `order_hours` may be fractional (0.5 = 30 minutes)."""

    prefix = fields.String(load_default="/qna")
    order_hours = fields.Float(load_default=24, validate=validate.Range(min=0, min_inclusive=False))
    max_active_orders = fields.Integer(load_default=3, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1))
    max_page_size = fields.Integer(load_default=100, validate=validate.Range(min=1))
    expire_every = fields.Float(load_default=60, validate=validate.Range(min=1))

    @validates_schema(skip_on_field_errors=False)
    def _page_size_within_max(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("page_size", 20) > data.get("max_page_size", 100):
            raise ValidationError("must not exceed max_page_size", "page_size")


spec = PluginSpec(
    name="qna",
    config_schema=QnaConfig,
    default_prefix="/qna",
    version="0.1.0",
    description=__doc__.strip(),
)

ASK = "qna.ask"
COACH = "qna.coach"


@hookimpl
def add_hookspecs(pm) -> None:
    from . import hookspecs

    pm.add_hookspecs(hookspecs)


@hookimpl
def register_models():
    from . import models

    return [models.Tag, models.QNA, models.QNAOrder]


@hookimpl
def register_routes():
    from .views import routes

    return routes


@hookimpl
def register_permissions():
    return {ASK: ("student",), COACH: ("tutor",)}


@hookimpl
def register_tasks(settings):
    from core.tasks import TaskSpec

    from .tasks import expire_orders

    return [TaskSpec("qna.expire_orders", expire_orders, every=settings.section("qna").expire_every)]
