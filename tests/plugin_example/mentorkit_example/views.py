from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from core import USER, Routes, errors, permission
from core.jsonutil import json_response
from core.keys import BODY, DB, IDENTITY, PLUGIN_MANAGER, SETTINGS

from .models import ExampleNote

routes = Routes(envelope="drf", rate="example-notes")


class NoteIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1))


def _note(note: ExampleNote) -> dict:
    return {"id": note.id, "text": note.text, "created_at": note.created_at}


@routes.post("/notes", access=permission("example.write"), body=NoteIn, summary="Keep a note")
async def create_note(request: web.Request) -> web.Response:
    text = request[BODY]["text"]
    limit = request.app[SETTINGS].section("example").max_note_length
    if len(text) > limit:
        raise errors.BadRequest(f"A note is at most {limit} characters.", code="too_long")
    async with request.app[DB].transaction() as session:
        note = ExampleNote(user_id=request[IDENTITY].user_id, text=text)
        session.add(note)
    request.app[PLUGIN_MANAGER].hook.example_note_created(app=request.app, note=note)
    return json_response(_note(note), status=201)


@routes.get("/notes/{id}", access=USER, summary="Read one of your notes")
async def get_note(request: web.Request) -> web.Response:
    try:
        note_id = int(request.match_info["id"])
    except ValueError:
        raise errors.NotFound() from None
    async with request.app[DB].session() as session:
        note = await session.scalar(
            select(ExampleNote).where(ExampleNote.id == note_id, ExampleNote.user_id == request[IDENTITY].user_id)
        )
    if note is None:
        raise errors.NotFound()
    return json_response(_note(note))
