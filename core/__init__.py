"""Mentorkit core: the public API for plugin authors.

    from core import PluginSpec, Routes, hookimpl, permission, errors
"""

from . import errors
from .envelopes import EnvelopeStyle, drf, maestro, sunbird, tutorhub
from .hookspecs import hookimpl, hookspec
from .plugins import PluginSpec
from .routing import ADMIN, API_TOKEN_ONLY, PUBLIC, USER, Access, Policy, Routes, permission, read_json, roles

__all__ = [
    "ADMIN",
    "API_TOKEN_ONLY",
    "PUBLIC",
    "USER",
    "Access",
    "EnvelopeStyle",
    "PluginSpec",
    "Policy",
    "Routes",
    "drf",
    "errors",
    "hookimpl",
    "hookspec",
    "maestro",
    "permission",
    "read_json",
    "roles",
    "sunbird",
    "tutorhub",
]
