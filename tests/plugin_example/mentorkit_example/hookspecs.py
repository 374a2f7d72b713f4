"""Hooks the example plugin opens for other plugins."""

from core import hookspec


@hookspec
def example_note_created(app, note) -> None:
    """Called after a note is committed."""
