"""API keys: prediction keys and admin keys, compared in constant time, logged only as key ids."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from fastapi import Request

from service.errors import Forbidden, Unauthorized


def key_id(key: str) -> str:
    """A short, stable, non-reversible name for a key (safe to log)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `Authorization: Bearer KEY` or `X-API-Key: KEY` (case-insensitive header names)."""
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("x-api-key") or None


def _matches(key: str, keys: list[str]) -> bool:
    found = False
    for candidate in keys:  # no early exit: the time taken does not tell which key matched
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return found


class KeyChecker:
    def __init__(self, api_keys: list[str], admin_keys: list[str]) -> None:
        self.api_keys = api_keys
        self.admin_keys = admin_keys

    def client(self, request: Request) -> str | None:
        """Check a prediction request; return the caller's key id (None when auth is off)."""
        return self.client_of(request.headers)

    def client_of(self, headers: Mapping[str, str]) -> str | None:
        if not self.api_keys:
            key = presented_key(headers)
            return key_id(key) if key and _matches(key, self.admin_keys) else None
        key = presented_key(headers)
        if key is None:
            raise Unauthorized("an API key is required: Authorization: Bearer KEY or X-API-Key: KEY")
        if not (_matches(key, self.api_keys) or _matches(key, self.admin_keys)):
            raise Forbidden("this API key is not valid")
        return key_id(key)

    def sees_all(self, headers: Mapping[str, str]) -> bool:
        """Whether the caller may act on every client's rows: an admin key, or no prediction keys (open mode)."""
        if not self.api_keys:
            return True
        key = presented_key(headers)
        return key is not None and _matches(key, self.admin_keys)

    def admin(self, request: Request) -> str:
        """Check an admin request; return the admin's key id."""
        if not self.admin_keys:
            raise Forbidden("admin routes are off: set SENTIMENT_ADMIN_KEYS to enable them")
        key = presented_key(request.headers)
        if key is None:
            raise Unauthorized("an admin key is required: Authorization: Bearer KEY or X-API-Key: KEY")
        if not _matches(key, self.admin_keys):
            raise Forbidden("this key is not an admin key")
        return key_id(key)
