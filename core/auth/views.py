"""Identity routes (tutorhub style): users, sessions, roles, passwords, API tokens.

Thin by design: each handler parses the path, hands the validated body to
core.auth.services (where every rule lives) and renders the result. The
login/session routes answer bare JSON as TutorHub's auth routes do; the business
routes use the tutorhub envelope; errors always come out in the tutorhub style.

Who may do what on `/v1/users/{userId}`-style routes is checked before the
target is looked up, so a 403 never reveals whether an id exists.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..db import utcnow
from ..envelopes import tutorhub
from ..errors import BadRequest, Forbidden, NotFound
from ..hookspecs import hookimpl
from ..jsonutil import json_response
from ..keys import AUTH, BODY, IDENTITY, PERMISSIONS, QUERY, SETTINGS
from ..ratelimit import client_address
from ..routing import ADMIN, PUBLIC, USER, Access, Routes, roles
from . import bootstrap, services
from .identity import TOKEN_NAME, Identity, find_token
from .models import ADMIN_ROLES, AuthSession, User
from .schemas import (
    AdminCreateUserIn,
    AdminPasswordIn,
    ApiTokenIn,
    AuthPagingQuery,
    LoginIn,
    PublicKeyQuery,
    RegisterUserIn,
    SearchUsersQuery,
    UpdateProfileIn,
    UpdateUserIn,
    UserPasswordIn,
    UserRoleIn,
    UsersQuery,
    api_token_out,
    brief_user_out,
    given_permission_out,
    new_api_token_out,
    session_out,
    user_out,
)

routes = Routes(envelope="tutorhub")

ADMIN_OR_API_TOKEN = roles("admin", "superAdmin", api_token=True)
USER_OR_API_TOKEN = Access("user", api_token=True)


IP_MAX = AuthSession.__table__.c.ip_address.type.length


def _client_ip(request: web.Request) -> str:
    """The caller's address behind trusted proxies, cut to the session column's width."""
    return client_address(request)[:IP_MAX]


def _user_id(request: web.Request) -> str:
    return services.parse_id(request.match_info["userId"], "userId")


def _require_self_or_admin(identity: Identity, user_id: str) -> None:
    if identity.user_id != user_id and identity.role not in ADMIN_ROLES:
        raise Forbidden("You can only see your own account.")


def _paging(request: web.Request) -> tuple[int, int]:
    query = request[QUERY]
    return query["pageNumber"], query["pageRowCount"]


def _filters(request: web.Request, keyword: str | None = None) -> services.UserFilters:
    """Repeated parameters are ORed (§1.7), so they are read from the raw multidict."""
    return services.UserFilters(
        email=request.query.getall("email", []),
        fullname=request.query.getall("fullname", []),
        role_id=request.query.getall("roleId", []),
        keyword=keyword,
    )


def _user(request: web.Request, user: User, action: str, status: int = 200) -> web.Response:
    return tutorhub.ok(request, "user", user_out(user), action=action, status=status)


def _users_page(request: web.Request, users: list[User], total: int) -> web.Response:
    page, rows = _paging(request)
    return tutorhub.page(
        request, "users", [user_out(u) for u in users], page_number=page, page_row_count=rows, total=total
    )


def _session_response(request: web.Request, user: User, auth_session: AuthSession, token: str) -> web.Response:
    """The bare session object, with the token also in an HttpOnly cookie and a header."""
    auth = request.app[SETTINGS].auth
    response = json_response(session_out(user, auth_session, token, utcnow()))
    response.set_cookie(
        TOKEN_NAME, token, httponly=True, secure=auth.cookie_secure, samesite="Lax", path="/",
        max_age=auth.access_token_ttl,
    )
    response.headers[TOKEN_NAME] = token
    return response


# --- login and session routes (bare JSON) -----------------------------------------------------


@routes.post("/login", access=PUBLIC, body=LoginIn, summary="Log in with email and password")
async def login(request: web.Request) -> web.Response:
    """`username` holds the email; `email` is accepted instead (`username` wins when both are sent)."""
    body = request[BODY]
    user, auth_session, token = await services.login(
        request.app,
        body.get("username") or body.get("email"),
        body.get("password"),
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent"),
    )
    return _session_response(request, user, auth_session, token)


@routes.post("/logout", access=PUBLIC, summary="Log out (idempotent)")
async def logout(request: web.Request) -> web.Response:
    await services.logout(request.app, request[IDENTITY])
    response = json_response({"status": "OK", "message": "Logged out"})
    response.del_cookie(TOKEN_NAME, path="/")
    return response


@routes.get("/relogin", access=USER, summary="Replace the current session with a new one")
async def relogin(request: web.Request) -> web.Response:
    user, auth_session, token = await services.relogin(
        request.app, request[IDENTITY], ip=_client_ip(request), user_agent=request.headers.get("User-Agent")
    )
    return _session_response(request, user, auth_session, token)


@routes.get("/currentuser", access=USER, summary="The current session")
async def current_user(request: web.Request) -> web.Response:
    user, auth_session = await services.current_session(request.app, request[IDENTITY])
    found = find_token(request)
    return json_response(session_out(user, auth_session, found[1] if found else "", utcnow()))


@routes.get("/publickey", access=PUBLIC, query=PublicKeyQuery, summary="The RS256 public key that verifies access tokens")
async def public_key(request: web.Request) -> web.Response:
    keys = request.app[AUTH].keys
    wanted = request[QUERY].get("keyId")
    if keys.algorithm != "RS256":
        raise NotFound("Tokens are signed with a shared secret (HS256); there is no public key.",
                       code="errMsg_PublicKeyNotFound")
    if wanted and wanted != keys.key_id:
        raise NotFound(f"No public key with id {wanted!r}.", code="errMsg_PublicKeyNotFound")
    return json_response({"keyId": keys.key_id, "keyData": keys.verify_key})


@routes.get("/permissions", access=USER, summary="The caller's permissions (role grants)")
async def permissions(request: web.Request) -> web.Response:
    identity: Identity = request[IDENTITY]
    granted = sorted(request.app[PERMISSIONS].for_role(identity.role))
    return json_response([given_permission_out(name, identity.role) for name in granted])


@routes.get("/permissions/{permissionName}", access=USER, summary="Whether the caller holds one permission")
async def permission(request: web.Request) -> web.Response:
    identity: Identity = request[IDENTITY]
    return json_response({"canDo": identity.can(request.match_info["permissionName"]), "exceptions": []})


# --- user business routes (tutorhub envelope) -------------------------------------------------


@routes.post("/v1/registeruser", access=PUBLIC, body=RegisterUserIn, summary="Register (as a student)")
async def register_user(request: web.Request) -> web.Response:
    user = await services.register_user(request.app, request[BODY])
    return _user(request, user, "create", 201)


@routes.post("/v1/users", access=ADMIN, body=AdminCreateUserIn, summary="Create a user (admin)")
async def create_user(request: web.Request) -> web.Response:
    user = await services.register_user(request.app, request[BODY], actor=request[IDENTITY])
    return _user(request, user, "create", 201)


@routes.get("/v1/users", access=ADMIN_OR_API_TOKEN, query=UsersQuery, summary="List users (admin)")
async def list_users(request: web.Request) -> web.Response:
    users, total = await services.list_users(request.app, _filters(request), *_paging(request))
    return _users_page(request, users, total)


@routes.get("/v1/searchusers", access=ADMIN_OR_API_TOKEN, query=SearchUsersQuery, summary="Search users by email or name (admin)")
async def search_users(request: web.Request) -> web.Response:
    keyword = (request[QUERY].get("keyword") or "").strip()
    if not keyword:
        raise BadRequest("keyword is required.", code="errMsg_keywordIsRequired")
    users, total = await services.list_users(request.app, _filters(request, keyword), *_paging(request))
    return _users_page(request, users, total)


@routes.get("/v1/users/{userId}", access=USER_OR_API_TOKEN, summary="One user (self or admin)")
async def get_user(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    _require_self_or_admin(request[IDENTITY], user_id)
    return _user(request, await services.get_user(request.app, user_id), "get")


@routes.patch("/v1/users/{userId}", access=ADMIN, body=UpdateUserIn, summary="Update a user (admin)")
async def update_user(request: web.Request) -> web.Response:
    user = await services.update_user(request.app, request[IDENTITY], _user_id(request), request[BODY])
    return _user(request, user, "update")


@routes.delete("/v1/users/{userId}", access=ADMIN, summary="Delete a user (admin; soft delete)")
async def delete_user(request: web.Request) -> web.Response:
    user = await services.delete_user(request.app, request[IDENTITY], _user_id(request))
    return _user(request, user, "delete")


@routes.patch("/v1/profile/{userId}", access=USER, body=UpdateProfileIn, summary="Update your own profile")
async def update_profile(request: web.Request) -> web.Response:
    user = await services.update_profile(request.app, request[IDENTITY], _user_id(request), request[BODY])
    return _user(request, user, "update")


@routes.delete("/v1/archiveprofile/{userId}", access=USER, summary="Archive your own account")
async def archive_profile(request: web.Request) -> web.Response:
    user = await services.archive_profile(request.app, request[IDENTITY], _user_id(request))
    return _user(request, user, "delete")


@routes.patch("/v1/userrole/{userId}", access=ADMIN, body=UserRoleIn, summary="Change a user's role (admin)")
async def update_user_role(request: web.Request) -> web.Response:
    user = await services.change_role(request.app, request[IDENTITY], _user_id(request), request[BODY]["role_id"])
    return _user(request, user, "update")


@routes.patch("/v1/userpassword/{userId}", access=USER, body=UserPasswordIn, summary="Change your own password")
async def update_user_password(request: web.Request) -> web.Response:
    body = request[BODY]
    user = await services.change_own_password(
        request.app, request[IDENTITY], _user_id(request), body["old_password"], body["new_password"]
    )
    return _user(request, user, "update")


@routes.patch("/v1/userpasswordbyadmin/{userId}", access=ADMIN, body=AdminPasswordIn, summary="Set a user's password (admin)")
async def update_user_password_by_admin(request: web.Request) -> web.Response:
    user = await services.set_password_by_admin(request.app, request[IDENTITY], _user_id(request), request[BODY]["password"])
    return _user(request, user, "update")


@routes.get("/v1/briefuser/{userId}", access=PUBLIC, summary="Public card of a user: id, fullname, avatar")
async def brief_user(request: web.Request) -> web.Response:
    user = await services.get_user(request.app, _user_id(request))
    return tutorhub.ok(request, "user", brief_user_out(user), action="get")


# --- API tokens (admin) -----------------------------------------------------------------------


@routes.post("/v1/apitokens", access=ADMIN, body=ApiTokenIn, summary="Create an API token (plaintext shown once)")
async def create_api_token(request: web.Request) -> web.Response:
    body = request[BODY]
    token, plaintext = await services.create_api_token(request.app, request[IDENTITY], body["name"], body["expires_in_days"])
    return tutorhub.ok(request, "apiToken", new_api_token_out(token, plaintext), action="create", status=201)


@routes.get("/v1/apitokens", access=ADMIN, query=AuthPagingQuery, summary="List API tokens (never the tokens)")
async def list_api_tokens(request: web.Request) -> web.Response:
    page, rows = _paging(request)
    tokens, total = await services.list_api_tokens(request.app, request[IDENTITY], page, rows)
    now = utcnow()
    items: list[dict[str, Any]] = [api_token_out(t, now) for t in tokens]
    return tutorhub.page(request, "apiTokens", items, page_number=page, page_row_count=rows, total=total)


@routes.delete("/v1/apitokens/{apiTokenId}", access=ADMIN, summary="Revoke an API token")
async def revoke_api_token(request: web.Request) -> web.Response:
    token_id = services.parse_id(request.match_info["apiTokenId"], "apiTokenId")
    token = await services.revoke_api_token(request.app, request[IDENTITY], token_id)
    return tutorhub.ok(request, "apiToken", api_token_out(token, utcnow()), action="delete")


@hookimpl
def register_routes() -> Routes:
    return routes


@hookimpl
def register_commands(subparsers: Any) -> None:
    bootstrap.add_commands(subparsers)
