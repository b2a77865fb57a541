"""What a user of the stack reaches through its published ports: the two services'
HTTP APIs and admins, Flower and the RabbitMQ management API; and a stream of
product changes made through the admin API while a fault happens.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

import requests

from tests.compose.project import ComposeProject

TIMEOUT = 10


def admin_login(base_url: str, user: str, password: str) -> requests.Session:
    """A session logged in through the Django admin's login form (CSRF included)."""
    session = requests.Session()
    page = session.get(f"{base_url}/admin/login/", timeout=TIMEOUT)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={"username": user, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    # Each service names its cookies after itself (admin_sessionid, catalog_csrftoken...).
    cookies = {name.split("_")[-1]: value for name, value in session.cookies.items()}
    if response.status_code != 302 or "sessionid" not in cookies:
        raise PermissionError(f"login to {base_url} refused ({response.status_code})")
    # DRF's session authentication wants the CSRF token on every write.
    session.headers["X-CSRFToken"] = cookies["csrftoken"]
    return session


def logged_in_admin(base_url: str, session: requests.Session) -> bool:
    """The admin index answers 200 to this session (a logged-out one is redirected to the login)."""
    response = session.get(f"{base_url}/admin/", timeout=TIMEOUT, allow_redirects=False)
    return response.status_code == 200 and "logout" in response.text.lower()


def admin_products(project: ComposeProject, session: requests.Session) -> dict[int, int]:
    """Every live product in the admin: {id: version}, all pages."""
    found, url = {}, project.url("admin", "/api/products/")
    while url:
        page = session.get(url, timeout=30)
        page.raise_for_status()
        body = page.json()
        found.update({item["id"]: item["version"] for item in body["results"]})
        url = body["next"]
    return found


def catalog_rows(project: ComposeProject) -> dict[int, tuple[int, bool]]:
    """Every row the catalog holds, tombstones included: {id: (version, deleted)}."""
    found, after = {}, 0
    # The sync endpoints answer only the admin service's token.
    token = {"Authorization": f"Bearer {project.secrets['CATALOG_SYNC_API_TOKEN']}"}
    while after is not None:
        page = requests.get(
            project.url("catalog", "/api/sync/versions/"),
            params={"after": after, "limit": 5000},
            headers=token,
            timeout=30,
        )
        page.raise_for_status()
        body = page.json()
        found.update({row["id"]: (row["version"], row["deleted"]) for row in body["products"]})
        after = body["next_after"]
    return found


def catalog_live(project: ComposeProject) -> dict[int, int]:
    return {pid: version for pid, (version, deleted) in catalog_rows(project).items() if not deleted}


def management(project: ComposeProject, path: str, auth=None) -> requests.Response:
    return requests.get(project.url("management", path), auth=auth or project.operator, timeout=TIMEOUT)


@dataclass
class Stream:
    """Creates, edits and deletes products through the admin API at a steady rate.

    Every write is one request; what the admin acknowledged (2xx) is recorded with
    the version it answered, so the catalog can be checked against it: ``expected``
    holds each product's last acknowledged version (a delete: the tombstone's, one
    more). Bounded by ``duration`` and ``rate``; runs in a thread until done.
    """

    project: ComposeProject
    session: requests.Session
    prefix: str
    rate: float = 8.0
    duration: float = 20.0
    seed: int = 11
    expected: dict[int, int] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    acknowledged: int = 0
    refused: list[str] = field(default_factory=list)
    commit_times: list[tuple[float, int, int]] = field(default_factory=list)  # (when, id, version)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"stream-{self.prefix}", daemon=True)
        self.stop = threading.Event()

    def start(self) -> Stream:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(timeout=self.duration + 120)
        assert not self.thread.is_alive(), "the stream did not finish"

    def _write(self, method: str, path: str, body: dict | None = None) -> dict | None:
        url = self.project.url("admin", path)
        try:
            response = self.session.request(method, url, json=body, timeout=TIMEOUT)
        except requests.RequestException as exc:
            self.refused.append(f"{method} {path}: {exc.__class__.__name__}")
            return None
        if response.status_code >= 300:
            self.refused.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        self.acknowledged += 1
        return response.json() if response.content else {}

    def _run(self) -> None:
        rng = random.Random(self.seed)
        live: list[int] = []
        started = next_at = time.monotonic()
        count, most = 0, int(self.rate * self.duration)
        while time.monotonic() - started < self.duration and count < most and not self.stop.is_set():
            roll = rng.random()
            if len(live) < 5 or roll < 0.35:
                body = self._write(
                    "POST",
                    "/api/products/",
                    {"sku": f"{self.prefix}-{count}", "title": f"Product {count}", "price": f"{count % 500}.25"},
                )
                if body:
                    live.append(body["id"])
                    self._record(body["id"], body["version"])
            elif roll < 0.9:
                pid = rng.choice(live)
                body = self._write(
                    "PATCH", f"/api/products/{pid}/", {"title": f"edit {count}", "price": f"{rng.randint(1, 999)}.99"}
                )
                if body:
                    self._record(pid, body["version"])
            else:
                pid = live.pop(rng.randrange(len(live)))
                if self._write("DELETE", f"/api/products/{pid}/") is not None:
                    self.deleted.add(pid)
                    self._record(pid, self.expected[pid] + 1)
            count += 1
            next_at += 1.0 / self.rate
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def _record(self, pid: int, version: int) -> None:
        self.expected[pid] = version
        self.commit_times.append((time.monotonic(), pid, version))

    def missing(self, rows: dict[int, tuple[int, bool]]) -> int:
        """Acknowledged changes the catalog does not reflect (a product at v reflects changes 1..v)."""
        lost = 0
        for pid, version in self.expected.items():
            held, deleted = rows.get(pid, (0, False))
            lost += max(0, version - held)
            if pid in self.deleted and held >= version and not deleted:
                lost += 1
        return lost


class CatalogWatcher:
    """Polls the catalog's versions and records when each (id, version) first appears."""

    def __init__(self, project: ComposeProject, interval: float = 0.25, limit: float = 600) -> None:
        self.project, self.interval, self.limit = project, interval, limit
        self.first_seen: dict[tuple[int, int], float] = {}
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="catalog-watcher", daemon=True)

    def __enter__(self) -> CatalogWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                rows = catalog_rows(self.project)
            except (requests.RequestException, ValueError):
                self.errors += 1
            else:
                now = time.monotonic()
                for pid, (version, _deleted) in rows.items():
                    self.first_seen.setdefault((pid, version), now)
            self.stop.wait(self.interval)

    def first_applied_after(self, stream: Stream, moment: float) -> float | None:
        """When the catalog first showed a change that was committed after ``moment``."""
        seen = [self.first_seen.get((pid, version)) for when, pid, version in stream.commit_times if when > moment]
        seen = [when for when in seen if when is not None]
        return min(seen) if seen else None
