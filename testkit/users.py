"""The staff user of the tests and HTTP Basic credentials."""

from __future__ import annotations

import base64
import secrets
from typing import Any

STAFF_USER = "staff"
# A new one each test run: test databases only, never a real account.
STAFF_PASSWORD = "staff-" + secrets.token_hex(8)


def basic_auth(username: str, password: str = STAFF_PASSWORD) -> str:
    """An HTTP Basic ``Authorization`` header value."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def count_hashes(monkeypatch: Any) -> list[str]:
    """Record every password hash the test settings' hasher (MD5) computes, one entry each."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    computed: list[str] = []
    original = MD5PasswordHasher.encode

    def counting(self: MD5PasswordHasher, password: str, salt: str) -> str:
        computed.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return computed
