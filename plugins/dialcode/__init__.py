"""DIAL codes for textbooks: generate, reserve, link, release (Sunbird-compatible)."""

from core import PluginSpec

spec = PluginSpec(name="dialcode", description=__doc__.strip())
