"""Request context, error rendering and policy enforcement.

Order (outermost first): context (request id, timing) -> errors (every failure in
the route's envelope style, never a traceback) -> policy (who may call, rate limit).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from .envelopes import EnvelopeStyle
from .errors import ApiError, ServerError, error_for_status
from .keys import AUTH, EXTRA_HEADERS, IDENTITY, POLICY, RATE_LIMITER, REQUEST_ID, REQUEST_START, STYLES
from .logs import request_id_var
from .routing import Policy, policy_of, refuse_nul_parameters

log = logging.getLogger("mentorkit.errors")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UNKNOWN_PATH_STYLE = "tutorhub"


@web.middleware
async def request_context(request: web.Request, handler):
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    request[REQUEST_START] = time.perf_counter()
    token = request_id_var.set(request_id)
    try:
        return await handler(request)
    finally:
        request_id_var.reset(token)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed or not, carries its request id."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers["X-Request-Id"] = request_id
    for name, value in request.get(EXTRA_HEADERS, {}).items():
        response.headers.setdefault(name, value)


async def _policy_for_error(request: web.Request) -> Policy | None:
    match = request.match_info
    if not isinstance(match, MatchInfoError):
        return policy_of(match.handler)
    if match.http_exception.status != 405:
        return None
    # 405: the path exists; answer in the style of the routes that live there.
    for resource in request.app.router.resources():
        _, allowed = await resource.resolve(request)
        if allowed:
            for route in resource:
                policy = policy_of(route.handler)
                if policy is not None:
                    return policy
    return None


async def render_error(request: web.Request, err: ApiError) -> web.StreamResponse:
    policy = request.get(POLICY) or await _policy_for_error(request)
    styles: dict[str, EnvelopeStyle] = request.app[STYLES]
    style = styles[policy.envelope if policy else UNKNOWN_PATH_STYLE]
    if policy is not None:
        request[POLICY] = policy
    return style.error(request, err)


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as err:
        return await render_error(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = error_for_status(exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            err.headers["Allow"] = exc.headers["Allow"]
        return await render_error(request, err)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return await render_error(request, ServerError())


@web.middleware
async def enforce_policy(request: web.Request, handler):
    policy = policy_of(request.match_info.handler)
    if policy is None:
        return await handler(request)
    request[POLICY] = policy
    refuse_nul_parameters(request)
    request[IDENTITY] = await request.app[AUTH].authorize(request, policy.access)
    limiter = request.app.get(RATE_LIMITER)
    if policy.rate and limiter is not None:
        await limiter.check(request, policy.rate)
    return await handler(request)
