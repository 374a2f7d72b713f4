"""Coaching sessions, points, to-dos, activity log and the rate-limited 90-day export."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core import PluginSpec, hookimpl


class CoachingConfig(Schema):
    prefix = fields.String(load_default="/api/v1")
    max_days = fields.Integer(load_default=90, validate=validate.Range(1, 3660))
    export_chunk_size = fields.Integer(load_default=500, validate=validate.Range(1, 5000))


spec = PluginSpec(
    name="coaching",
    config_schema=CoachingConfig,
    default_prefix="/api/v1",
    version="0.1.0",
    description=__doc__.strip(),
)


@hookimpl
def register_models():
    from .models import MODELS

    return MODELS


@hookimpl
def register_routes():
    from .views import routes

    return routes


@hookimpl
def register_permissions():
    return {"coaching.coach": ("tutor",)}


@hookimpl
def register_rate_limits():
    # The seed's "hard endpoint" bucket; the export draws from it.
    return {"hard": ["1/second", "30/minute"]}
