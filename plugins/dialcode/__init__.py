"""DIAL codes for textbooks: generate, reserve, link, release (Sunbird-compatible)."""

from __future__ import annotations

from core import PluginSpec, hookimpl

spec = PluginSpec(name="dialcode", description=__doc__.strip(), version="0.1.0")

MANAGE = "dialcode.manage"


@hookimpl
def register_models():
    from . import models

    return [models.Publisher, models.Content, models.DialCode, models.Reservation, models.Link, models.Counter]


@hookimpl
def register_routes():
    from .views import routes

    return routes


@hookimpl
def register_permissions():
    return {MANAGE: ("admin", "tutor")}
