"""The staff user of the tests and HTTP Basic credentials."""

from __future__ import annotations

import base64
import secrets

STAFF_USER = "staff"
# A new one each test run: test databases only, never a real account.
STAFF_PASSWORD = "staff-" + secrets.token_hex(8)


def basic_auth(username: str, password: str = STAFF_PASSWORD) -> str:
    """An HTTP Basic ``Authorization`` header value."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"
