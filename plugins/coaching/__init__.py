"""Coaching sessions, points, to-dos, activity log and the rate-limited 90-day export."""

from core import PluginSpec

spec = PluginSpec(name="coaching", default_prefix="/api/v1", description=__doc__.strip())
