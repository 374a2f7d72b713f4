"""JWT access tokens and API token secrets.

A JWT carries the session id (`sid`); the session row decides whether it is
still valid, which is what makes logout and bans take effect at once. API
tokens are random strings of which only a SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import jwt

API_TOKEN_PREFIX = "mk_"


@dataclass(frozen=True)
class JwtKeys:
    algorithm: str
    signing_key: str
    verify_key: str
    key_id: str = "mentorkit-1"

    @classmethod
    def from_settings(cls, algorithm: str, secret: str, private_key: str) -> "JwtKeys":
        if algorithm == "RS256":
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_private_key(private_key.encode(), password=None)
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return cls("RS256", private_key, public.decode())
        return cls("HS256", secret, secret)


def issue_access_token(keys: JwtKeys, *, user_id: str, session_id: str, role: str, ttl: int) -> tuple[str, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    expires = now + dt.timedelta(seconds=ttl)
    claims = {"sub": user_id, "sid": session_id, "role": role, "iat": now, "exp": expires}
    token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers={"kid": keys.key_id})
    return token, expires


def decode_access_token(keys: JwtKeys, token: str) -> dict | None:
    """The claims, or None for any invalid, expired or foreign token."""
    try:
        return jwt.decode(token, keys.verify_key, algorithms=[keys.algorithm], options={"require": ["sub", "sid", "exp"]})
    except jwt.PyJWTError:
        return None


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
