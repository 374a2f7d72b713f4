"""An example third-party plugin: notes that signed-in users keep for themselves.

It shows every part of the plugin contract in a few lines: a spec with a config
schema, a model with its own alembic branch, routes with policies, a permission,
a rate-limit bucket, a hook it opens for other plugins, and a health check.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from core import PluginSpec, hookimpl


class ExampleConfig(Schema):
    prefix = fields.String(load_default="/example")
    max_note_length = fields.Integer(load_default=200)


spec = PluginSpec(name="example", config_schema=ExampleConfig, default_prefix="/example", version="0.1.0")


@hookimpl
def add_hookspecs(pm) -> None:
    from . import hookspecs

    pm.add_hookspecs(hookspecs)


@hookimpl
def register_models():
    from . import models

    return [models.ExampleNote]


@hookimpl
def register_routes():
    from .views import routes

    return routes


@hookimpl
def register_permissions():
    return {"example.write": ("student", "tutor", "admin", "superAdmin")}


@hookimpl
def register_rate_limits():
    return {"example-notes": ["5/second"]}


@hookimpl
def health_check(app):
    return {"example": "ok"}
