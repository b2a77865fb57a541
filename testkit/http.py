"""HTTP against the web processes: waiting for one to answer, a staff session on the admin."""

from __future__ import annotations

from typing import Any

import requests

from testkit.users import STAFF_PASSWORD, STAFF_USER
from testkit.waiting import wait_until

# The admin service's cookie names (admin_project.settings.base).
SESSION_COOKIE = "admin_sessionid"
CSRF_COOKIE = "admin_csrftoken"


def wait_http(url: str, *, status: int | tuple[int, ...] = 200, timeout: float = 90) -> None:
    """Wait until ``url`` answers with ``status`` (one of them), redirects not followed."""
    expected = (status,) if isinstance(status, int) else status
    wait_until(
        lambda: requests.get(url, timeout=3, allow_redirects=False).status_code in expected,
        timeout=timeout,
        interval=0.2,
        what=f"{url} answers {expected}",
    )


def staff_session(admin_url: str, *, basic_auth: bool = False) -> requests.Session:
    """A staff client of the admin at ``admin_url`` (http://host:port).

    By default it logs in once through the admin login page and then uses the session
    (with its CSRF token), as a browser does. HTTP Basic verifies the password hash on
    every request (PBKDF2, hundreds of ms), so it is for occasional scripted calls, not
    for measuring the API.
    """
    session = requests.Session()
    if basic_auth:
        session.auth = (STAFF_USER, STAFF_PASSWORD)
        return session
    login_url = f"{admin_url}/admin/login/"
    session.get(login_url, timeout=10).raise_for_status()
    response = session.post(
        login_url,
        data={
            "username": STAFF_USER,
            "password": STAFF_PASSWORD,
            "next": "/admin/",
            "csrfmiddlewaretoken": session.cookies[CSRF_COOKIE],
        },
        headers={"Referer": login_url},
        timeout=10,
        allow_redirects=False,
    )
    if response.status_code != 302 or SESSION_COOKIE not in session.cookies:
        raise RuntimeError(f"admin login failed: {response.status_code}")
    session.headers.update({"X-CSRFToken": str(session.cookies[CSRF_COOKIE]), "Referer": login_url})
    return session


def create_products(api: requests.Session, admin_url: str, *, prefix: str, count: int, price: str) -> list[Any]:
    """Create ``count`` products through the admin API (sku ``<prefix>-<i>``, title ``<prefix> <i>``),
    each answered 201; the bodies of the answers."""
    created = []
    for i in range(count):
        response = api.post(
            f"{admin_url}/api/products/",
            json={"sku": f"{prefix}-{i}", "title": f"{prefix} {i}", "price": price},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created
