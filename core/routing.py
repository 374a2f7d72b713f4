"""Route declarations with their policy.

Every route says, where it is defined, who may call it (`Access`), which envelope
style its responses use and which rate-limit bucket it draws from. The core
mounts the routes under the plugin's prefix and refuses to start when a route
has no policy or two plugins claim the same method and path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

import aiohttp_apispec
from aiohttp import web
from marshmallow import Schema
from marshmallow import ValidationError as MarshmallowValidationError

from .errors import BadRequest, ValidationFailed
from .jsonutil import loads
from .keys import BODY, QUERY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
POLICY_ATTR = "__mentorkit_policy__"


@dataclass(frozen=True)
class Access:
    """Who may call a route.

    kind: `public` (anyone), `user` (any signed-in user), `roles` (one of `roles`),
    `permission` (holds `permission`), `api_token` (only an API token).
    `api_token=True` on the other kinds lets API tokens in as well.
    """

    kind: str
    roles: frozenset[str] = frozenset()
    permission: str | None = None
    api_token: bool = False

    def describe(self) -> str:
        if self.kind == "roles":
            return "roles: " + ", ".join(sorted(self.roles))
        if self.kind == "permission":
            return f"permission: {self.permission}"
        return self.kind


PUBLIC = Access("public")
USER = Access("user")
API_TOKEN_ONLY = Access("api_token", api_token=True)


def roles(*names: str, api_token: bool = False) -> Access:
    return Access("roles", roles=frozenset(names), api_token=api_token)


def permission(name: str, *, api_token: bool = False) -> Access:
    return Access("permission", permission=name, api_token=api_token)


ADMIN = roles("admin", "superAdmin")


@dataclass(frozen=True)
class Policy:
    access: Access
    envelope: str
    rate: str | None = "default"
    api_id: str | None = None
    plugin: str = ""


@dataclass
class RouteDef:
    method: str
    path: str
    handler: Handler
    policy: Policy
    name: str | None = None
    websocket: bool = False


@dataclass
class Routes:
    """A plugin's route table: `routes = Routes(envelope="drf")`, then decorators."""

    envelope: str
    rate: str | None = "default"
    defs: list[RouteDef] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        envelope: str | None = None,
        rate: str | None | object = ...,
        body: type[Schema] | Schema | None = None,
        query: type[Schema] | Schema | None = None,
        api_id: str | None = None,
        summary: str | None = None,
        name: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare a route. `body`/`query` schemas are validated before the handler
        runs (results in `request[BODY]` / `request[QUERY]`) and documented in OpenAPI."""

        policy = Policy(
            access=access,
            envelope=envelope or self.envelope,
            rate=self.rate if rate is ... else rate,  # type: ignore[arg-type]
            api_id=api_id,
        )

        def decorate(func: Handler) -> Handler:
            handler = _validating(func, body, query)
            aiohttp_apispec.docs(summary=summary or (func.__doc__ or "").strip().split("\n")[0])(handler)
            if body is not None:
                aiohttp_apispec.request_schema(body)(handler)
            if query is not None:
                aiohttp_apispec.querystring_schema(query)(handler)
            for route_path in (path, *aliases):
                self.defs.append(RouteDef(method.upper(), route_path, handler, policy, name if route_path == path else None))
            return func

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def websocket(self, path: str, *, access: Access, rate: str | None = None) -> Callable[[Handler], Handler]:
        policy = Policy(access=access, envelope=self.envelope, rate=rate)

        def decorate(func: Handler) -> Handler:
            self.defs.append(RouteDef("GET", path, func, policy, websocket=True))
            return func

        return decorate

    def __iter__(self) -> Iterator[RouteDef]:
        return iter(self.defs)


def _schema_instance(schema: type[Schema] | Schema) -> Schema:
    return schema() if isinstance(schema, type) else schema


async def read_json(request: web.Request) -> Any:
    """The parsed JSON body; malformed or missing JSON is a 400, never a 500."""
    raw = await request.read()
    if not raw:
        raise BadRequest("Request body must be JSON.", code="invalid_json")
    try:
        data = loads(raw)
    except ValueError:
        raise BadRequest("Request body is not valid JSON.", code="invalid_json") from None
    if b"\\u0000" in raw and _has_nul(data):  # JSON can only carry a NUL escaped
        raise ValidationFailed(NUL_MESSAGE)
    return data


NUL_MESSAGE = "Text must not contain the NUL character (U+0000)."


def _has_nul(value: Any) -> bool:
    """PostgreSQL text cannot store U+0000; left in, it fails in the database as a 500."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_parameters(request: web.Request) -> None:
    """Path and query values with a NUL are bad input (400), on every route."""
    bad = [name for name, value in request.match_info.items() if "\x00" in value]
    bad += [name for name, value in request.query.items() if "\x00" in value or "\x00" in name]
    if bad:
        raise ValidationFailed(NUL_MESSAGE, detail={name: [NUL_MESSAGE] for name in bad})


def _validating(func: Handler, body: Any, query: Any) -> Handler:
    if body is None and query is None:
        # Copy so apispec metadata attached to one declaration does not leak to another.
        async def plain(request: web.Request) -> web.StreamResponse:
            return await func(request)

        plain.__name__ = func.__name__
        plain.__doc__ = func.__doc__
        return plain

    body_schema = _schema_instance(body) if body is not None else None
    query_schema = _schema_instance(query) if query is not None else None

    async def validated(request: web.Request) -> web.StreamResponse:
        if query_schema is not None:
            request[QUERY] = _load(query_schema, dict(request.query))
        if body_schema is not None:
            data = await read_json(request)
            if not isinstance(data, dict):
                raise BadRequest("Request body must be a JSON object.", code="invalid_json")
            request[BODY] = _load(body_schema, data)
        return await func(request)

    validated.__name__ = func.__name__
    validated.__doc__ = func.__doc__
    return validated


def _load(schema: Schema, data: dict[str, Any]) -> Any:
    try:
        return schema.load(data)
    except MarshmallowValidationError as exc:
        messages = exc.normalized_messages()
        raise ValidationFailed(summarize(messages), detail=messages) from None


def summarize(messages: Any) -> str:
    """One readable sentence from marshmallow's nested error dict: `Q1: Field may not be blank.`"""
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            texts = [v for v in value if isinstance(v, str)]
            if texts:
                parts.append(f"{prefix}: {' '.join(texts)}" if prefix and prefix != "_schema" else " ".join(texts))
            for inner in value:
                if not isinstance(inner, str):
                    walk(prefix, inner)
        else:
            parts.append(f"{prefix}: {value}")

    walk("", messages)
    return " ".join(parts) or "Invalid input."


def policy_of(handler: Any) -> Policy | None:
    return getattr(handler, POLICY_ATTR, None)
