"""Conversations and realtime chat over WebSocket."""

from core import PluginSpec

spec = PluginSpec(name="messaging", description=__doc__.strip())
