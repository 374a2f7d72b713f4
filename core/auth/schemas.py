"""Wire shapes of the identity routes: request schemas and the TutorHub objects.

Request schemas load camelCase wire names into model attribute names
(`applicationDocuments` -> `application_documents`), so services work on the
model's vocabulary. Fields that exist on a user but may not be set through a
given route are refused with a 400 naming the route to use instead, rather than
silently dropped: a client that sends `roleId` to the profile route learns why
nothing changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ..jsonutil import utc_iso
from .models import ACCOUNT_STATUSES, ROLES, TUTOR_APPLICATION_STATUSES, ApiToken, AuthSession, User

MAX_PASSWORD = 256
MAX_TEXT = 20_000
MAX_PAGE_NUMBER = 10**9  # (page - 1) * pageRowCount must stay a valid 64-bit SQL OFFSET


class Trimmed(fields.String):
    """A string with surrounding whitespace removed (names, emails, keywords)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)
        return result.strip() if isinstance(result, str) else result


def _name(**kw: Any) -> fields.Field:
    return Trimmed(validate=validate.Length(min=1, max=255), **kw)


def _text(key: str | None = None, max_len: int = MAX_TEXT) -> fields.Field:
    return fields.String(allow_none=True, validate=validate.Length(max=max_len), data_key=key)


class _Strict(Schema):
    """Ignores unknown fields (TutorHub's rule) but refuses the ones in `FORBIDDEN`."""

    FORBIDDEN: dict[str, str] = {}

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True)
    def _refuse_forbidden(self, data: Any, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, Mapping):
            return
        errors = {name: [hint] for name, hint in self.FORBIDDEN.items() if name in original}
        if errors:
            raise ValidationError(errors)


_USE_ROLE_ROUTE = "Cannot be changed here; use PATCH /v1/userrole/{userId}."
_USE_PASSWORD_ROUTE = "Cannot be changed here; use PATCH /v1/userpassword/{userId}."
_SYSTEM_FIELD = "Cannot be changed here."
_ADMIN_FIELD = "Only an admin can change this field (PATCH /v1/users/{userId})."


class _ProfileFields(_Strict):
    fullname = _name()
    avatar = _text(max_len=1024)
    certifications = _text()
    qualifications = _text()
    bio = _text()
    specializations = _text()
    application_documents = _text("applicationDocuments")


class RegisterUserIn(_ProfileFields):
    """`POST /v1/registeruser`: a new student. `applicationReviewNote` is an admin field and ignored."""

    email = Trimmed(required=True, validate=[validate.Email(error="Not a valid email address."), validate.Length(max=320)])
    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))
    fullname = _name(required=True)


class AdminCreateUserIn(RegisterUserIn):
    """`POST /v1/users`: an admin creates a user (a student, like registration)."""

    FORBIDDEN = {"roleId": _USE_ROLE_ROUTE}
    application_review_note = _text("applicationReviewNote")


class UpdateUserIn(_ProfileFields):
    """`PATCH /v1/users/{userId}` (admin): profile, application and moderation fields."""

    FORBIDDEN = {
        "email": _SYSTEM_FIELD,
        "password": "Cannot be changed here; use PATCH /v1/userpasswordbyadmin/{userId}.",
        "roleId": _USE_ROLE_ROUTE,
        "emailVerified": _SYSTEM_FIELD,
    }
    tutor_application_status = fields.String(
        data_key="tutorApplicationStatus", validate=validate.OneOf(TUTOR_APPLICATION_STATUSES)
    )
    application_review_note = _text("applicationReviewNote")
    account_status = fields.String(data_key="accountStatus", validate=validate.OneOf(ACCOUNT_STATUSES))


class UpdateProfileIn(_ProfileFields):
    """`PATCH /v1/profile/{userId}` (self): only what a user may say about themselves."""

    FORBIDDEN = {
        "email": _SYSTEM_FIELD,
        "password": _USE_PASSWORD_ROUTE,
        "roleId": _USE_ROLE_ROUTE,
        "emailVerified": _SYSTEM_FIELD,
        "tutorApplicationStatus": _ADMIN_FIELD,
        "applicationReviewNote": _ADMIN_FIELD,
        "accountStatus": _ADMIN_FIELD,
    }


class UserRoleIn(Schema):
    class Meta:
        unknown = EXCLUDE

    role_id = fields.String(
        required=True, data_key="roleId", validate=validate.OneOf(ROLES, error="Must be one of: {choices}.")
    )


class UserPasswordIn(Schema):
    class Meta:
        unknown = EXCLUDE

    old_password = fields.String(required=True, data_key="oldPassword", validate=validate.Length(max=MAX_PASSWORD))
    new_password = fields.String(required=True, data_key="newPassword", validate=validate.Length(max=MAX_PASSWORD))


class AdminPasswordIn(Schema):
    class Meta:
        unknown = EXCLUDE

    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class LoginIn(Schema):
    """Both optional here: a missing credential is the route's own 400 (`errMsg_CredentialsMissing`)."""

    class Meta:
        unknown = EXCLUDE

    username = Trimmed(validate=validate.Length(max=320))
    email = Trimmed(validate=validate.Length(max=320))
    password = fields.String(validate=validate.Length(max=MAX_PASSWORD))


class ApiTokenIn(Schema):
    class Meta:
        unknown = EXCLUDE

    name = _name(required=True)
    expires_in_days = fields.Integer(
        data_key="expiresInDays", load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 3650)
    )


class AuthPagingQuery(Schema):
    """TutorHub paging (§1.4): `pageNumber=0` turns paging off. Cache/join switches are accepted and ignored."""

    class Meta:
        unknown = EXCLUDE

    pageNumber = fields.Integer(load_default=1, validate=validate.Range(min=0, max=MAX_PAGE_NUMBER))
    pageRowCount = fields.Integer(load_default=25, validate=validate.Range(min=1, max=10_000))


class UsersQuery(AuthPagingQuery):
    """Filters (§1.7): partial and case-insensitive; repeat a parameter for OR; `null` matches empty."""

    email = fields.String()
    fullname = fields.String()
    roleId = fields.String()


class SearchUsersQuery(AuthPagingQuery):
    keyword = fields.String(metadata={"description": "Case-insensitive substring of email or fullname (required)."})
    roleId = fields.String()


class PublicKeyQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    keyId = fields.String()


# --- responses -------------------------------------------------------------------------------


def user_out(user: User) -> dict[str, Any]:
    """The §3.1 user in TutorHub field order, `_idx` beside each enum, never the password."""
    return {
        "id": user.id,
        "email": user.email,
        "fullname": user.fullname,
        "avatar": user.avatar,
        "roleId": user.role_id,
        "emailVerified": user.email_verified,
        "tutorApplicationStatus": user.tutor_application_status,
        "tutorApplicationStatus_idx": _index(TUTOR_APPLICATION_STATUSES, user.tutor_application_status),
        "certifications": user.certifications,
        "qualifications": user.qualifications,
        "bio": user.bio,
        "specializations": user.specializations,
        "applicationReviewNote": user.application_review_note,
        "applicationDocuments": user.application_documents,
        "accountStatus": user.account_status,
        "accountStatus_idx": _index(ACCOUNT_STATUSES, user.account_status),
        "isActive": user.is_active,
        "recordVersion": user.record_version,
        "createdAt": utc_iso(user.created_at),
        "updatedAt": utc_iso(user.updated_at),
        "_owner": user.id,
    }


def brief_user_out(user: User) -> dict[str, Any]:
    return {"id": user.id, "fullname": user.fullname, "avatar": user.avatar, "isActive": user.is_active}


def session_out(user: User, auth_session: AuthSession, token: str, now: dt.datetime) -> dict[str, Any]:
    """The §3.3 session object the login, relogin and currentuser routes return bare."""
    return {
        "sessionId": auth_session.id,
        "userId": user.id,
        "email": user.email,
        "fullname": user.fullname,
        "roleId": user.role_id,
        "avatar": user.avatar,
        "emailVerified": user.email_verified,
        "tutorApplicationStatus": user.tutor_application_status,
        "accountStatus": user.account_status,
        "isActive": user.is_active,
        "sessionNeedsEmail2FA": False,
        "sessionNeedsMobile2FA": False,
        "accessToken": token,
        "expiresIn": max(0, int((auth_session.expires_at - now).total_seconds())),
    }


def api_token_out(token: ApiToken, now: dt.datetime) -> dict[str, Any]:
    """A token's metadata; neither the token nor its hash ever leaves the server after creation."""
    return {
        "id": token.id,
        "name": token.name,
        "userId": token.user_id,
        "createdAt": utc_iso(token.created_at),
        "expiresAt": utc_iso(token.expires_at),
        "lastUsedAt": utc_iso(token.last_used_at),
        "revokedAt": utc_iso(token.revoked_at),
        "isActive": token.revoked_at is None and token.expires_at > now,
    }


def new_api_token_out(token: ApiToken, plaintext: str) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "token": plaintext, "expiresAt": utc_iso(token.expires_at)}


_PERMISSION_NAMESPACE = uuid.UUID("6f1d7c1e-3a4b-4c9e-9d51-6b0a3c2f8e10")


def given_permission_out(name: str, role: str) -> dict[str, Any]:
    """A role grant as a §3.4 givenPermission record, with an id stable across calls."""
    return {
        "id": str(uuid.uuid5(_PERMISSION_NAMESPACE, f"{role}:{name}")),
        "permissionName": name,
        "roleId": role,
        "subjectUserId": None,
        "subjectUserGroupId": None,
        "objectId": None,
        "canDo": True,
    }


def _index(values: tuple[str, ...], value: str) -> int | None:
    return values.index(value) if value in values else None
