"""Argon2id password hashing, run in a thread so a login never stalls the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, _verify, stored, password)


# Verified against when the account does not exist, so timing does not reveal it.
DUMMY_HASH = _hasher.hash("mentorkit-no-such-user")
