"""HTTP routes: read the Sunbird envelope and the channel header, call a service, wrap the result.

Every route answers in the `sunbird` envelope, including its errors; the
catch-all routes at the end make unknown paths under `/dialcode/` and
`/content/v3/` answer there too (404, or 405 when the path exists with other
methods) instead of in the server's default style.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import PUBLIC, Routes, permission, sunbird
from core.errors import BadRequest, MethodNotAllowed, NotFound
from core.jsonutil import loads
from core.keys import CLOCK, DB, SUNBIRD_MSGID

from . import MANAGE, services

routes = Routes(envelope="sunbird", rate="default")
ACCESS = permission(MANAGE, api_token=True)
CHANNEL_HEADER = "X-Channel-Id"


async def _payload(request: web.Request) -> Any:
    """The body's `request` member (None when absent); echoes `params.msgid` from now on.

    Only `request` matters, and whether it is acceptable is for the service to
    say in the contract's order, so an empty body is simply "no request" here.
    """
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = loads(raw)
    except ValueError:
        raise BadRequest("Request body is not valid JSON.", code="ERR_INVALID_REQUEST") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.", code="ERR_INVALID_REQUEST")
    params = body.get("params")
    msgid = params.get("msgid") if isinstance(params, dict) else None
    if isinstance(msgid, str):
        request[SUNBIRD_MSGID] = msgid
    return body.get("request")


def _channel(request: web.Request) -> str | None:
    return request.headers.get(CHANNEL_HEADER, "").strip() or None


def _now(request: web.Request):
    return request.app[CLOCK].now()


# ---------------------------------------------------------------- publishers and codes

@routes.post("/dialcode/v3/publisher/create", access=ACCESS, api_id="sunbird.publisher.create")
async def create_publisher(request: web.Request) -> web.Response:
    """Create a publisher in the caller's channel"""
    payload = await _payload(request)
    result = await services.create_publisher(request.app[DB], _now(request), _channel(request), payload)
    return sunbird.ok(request, result)


@routes.get("/dialcode/v3/publisher/read/{id}", access=ACCESS, api_id="sunbird.publisher.info")
async def read_publisher(request: web.Request) -> web.Response:
    """Read a publisher"""
    return sunbird.ok(request, await services.read_publisher(request.app[DB], request.match_info["id"]))


@routes.post("/dialcode/v3/generate", access=ACCESS, api_id="sunbird.dialcode.generate")
async def generate(request: web.Request) -> web.Response:
    """Generate DIAL codes (at most 1000 per call; more answers 207 with 1000)"""
    payload = await _payload(request)
    result, partial = await services.generate(request.app[DB], _now(request), _channel(request), payload)
    return sunbird.ok(request, result, status=207 if partial else 200)


@routes.get("/dialcode/v3/read/{id}", access=ACCESS, api_id="sunbird.dialcode.read")
async def read_dialcode(request: web.Request) -> web.Response:
    """Read one DIAL code"""
    return sunbird.ok(request, await services.read_dialcode(request.app[DB], request.match_info["id"]))


# ---------------------------------------------------------------- content tree

@routes.post("/content/v3/create", access=ACCESS, api_id="ekstep.learning.content.create")
async def create_content(request: web.Request) -> web.Response:
    """Create a textbook, or a node of one with `parent`"""
    payload = await _payload(request)
    result = await services.create_content(request.app[DB], _now(request), _channel(request), payload)
    return sunbird.ok(request, result)


@routes.get("/content/v3/read/{id}", access=ACCESS, api_id="ekstep.learning.content.read")
async def read_content(request: web.Request) -> web.Response:
    """Read a content node with its linked and reserved codes"""
    result = await services.read_content(request.app[DB], request.match_info["id"], _channel(request))
    return sunbird.ok(request, result)


@routes.patch("/content/v3/update/{id}", access=ACCESS, api_id="ekstep.learning.content.update")
async def update_content(request: web.Request) -> web.Response:
    """Update a content node's name or status"""
    payload = await _payload(request)
    result = await services.update_content(
        request.app[DB], _now(request), request.match_info["id"], _channel(request), payload
    )
    return sunbird.ok(request, result)


@routes.post("/content/v3/dialcode/link", access=ACCESS, api_id="ekstep.learning.content.dialcode.link")
async def link(request: web.Request) -> web.Response:
    """Link DIAL codes reserved on a textbook to its nodes"""
    payload = await _payload(request)
    result = await services.link(request.app[DB], _now(request), _channel(request), payload)
    return sunbird.ok(request, result)


@routes.post(
    "/content/v3/dialcode/reserve/{id}", access=ACCESS, api_id="ekstep.learning.content.dialcode.reserve"
)
async def reserve(request: web.Request) -> web.Response:
    """Reserve DIAL codes on a textbook (tops up to `count`)"""
    payload = await _payload(request)
    result = await services.reserve(request.app[DB], _now(request), request.match_info["id"], _channel(request), payload)
    return sunbird.ok(request, result)


@routes.patch(
    "/content/v3/dialcode/release/{id}", access=ACCESS, api_id="ekstep.learning.content.dialcode.release"
)
async def release(request: web.Request) -> web.Response:
    """Release a textbook's unused reserved DIAL codes, highest index first"""
    payload = await _payload(request)
    result = await services.release(request.app[DB], _now(request), request.match_info["id"], _channel(request), payload)
    return sunbird.ok(request, result)


# ---------------------------------------------------------------- unknown paths

CATCH_ALL = ("/dialcode/{tail:.*}", "/content/v3/{tail:.*}")
CATCH_ALL_CANONICAL = frozenset({"/dialcode/{tail}", "/content/v3/{tail}"})


async def unknown_path(request: web.Request) -> web.Response:
    """Unknown path under the plugin's routes: 404 (405 when the path exists with other methods)"""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical in CATCH_ALL_CANONICAL:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise MethodNotAllowed(headers={"Allow": ",".join(sorted(allowed))})
    raise NotFound(f"API not found: {request.method} {request.path}", code="ERR_API_NOT_FOUND")


for _path in CATCH_ALL:
    for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        routes.route(_method, _path, access=PUBLIC, api_id="api.error")(unknown_path)
