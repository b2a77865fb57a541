"""Asking the catalog service which versions it holds and how far behind it runs.

Every call has a short timeout (``CATALOG_API_TIMEOUT``) and returns ``None`` when
the catalog cannot answer: callers show "unknown", never fail the page.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.conf import settings

from products.selectors import HeldVersion

logger = logging.getLogger(__name__)

IDS_PER_CALL = 1000  # the catalog's limit per versions call
PAGE_SIZE = 1000


class CatalogUnavailable(Exception):
    """The catalog did not answer in time, or answered with an error."""


class LagPoint(TypedDict):
    start: str  # ISO 8601
    count: int
    p50_seconds: float
    p95_seconds: float


class CatalogLag(TypedDict):
    """The catalog's answer at /api/sync/lag/: commit-to-applied lag, in seconds."""

    minutes: int
    count: int
    p50_seconds: float | None
    p95_seconds: float | None
    max_seconds: float | None
    series: list[LagPoint]


def _get(path: str, params: dict[str, Any], *, timeout: float | None = None) -> Any:
    url = f"{settings.CATALOG_API_URL}{path}?{urlencode(params)}"
    if not url.startswith(("http://", "https://")):
        raise CatalogUnavailable(f"CATALOG_API_URL is not an http(s) URL: {settings.CATALOG_API_URL!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout or settings.CATALOG_API_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad JSON
        raise CatalogUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _versions(rows: Iterable[dict[str, Any]]) -> dict[int, HeldVersion]:
    return {int(r["id"]): HeldVersion(version=int(r["version"]), deleted=bool(r["deleted"])) for r in rows}


def versions_of(product_ids: Iterable[int]) -> dict[int, HeldVersion]:
    """The catalog's version of each of these products it holds; raises CatalogUnavailable."""
    ids = sorted(set(product_ids))
    found: dict[int, HeldVersion] = {}
    for start in range(0, len(ids), IDS_PER_CALL):
        chunk = ids[start : start + IDS_PER_CALL]
        body = _get("/api/sync/versions/", {"ids": ",".join(map(str, chunk))})
        found.update(_versions(body["products"]))
    return found


def versions_or_none(product_ids: Iterable[int]) -> dict[int, HeldVersion] | None:
    """``versions_of``, or None ("unknown") when the catalog cannot answer."""
    try:
        return versions_of(product_ids)
    except CatalogUnavailable as exc:
        logger.info("catalog versions unknown: %s", exc)
        return None


def all_versions(*, page_size: int = PAGE_SIZE) -> Iterator[tuple[int, HeldVersion]]:
    """Every catalog row, tombstones included, in product_id order, page by page."""
    after = 0
    while True:
        body = _get("/api/sync/versions/", {"after": after, "limit": page_size})
        rows = body["products"]
        yield from sorted(_versions(rows).items())
        if body.get("next_after") is None or not rows:
            return
        after = int(body["next_after"])


def product(product_id: int) -> dict[str, Any] | None:
    """The catalog's public view of a live product, or None if it has none."""
    try:
        shown: dict[str, Any] = _get(f"/api/products/{int(product_id)}/", {})
        return shown
    except CatalogUnavailable as exc:
        if isinstance(exc.__cause__, urllib.error.HTTPError) and exc.__cause__.code == 404:
            return None
        raise


def lag(*, minutes: int) -> CatalogLag | None:
    try:
        answer: CatalogLag = _get("/api/sync/lag/", {"minutes": minutes})
        return answer
    except CatalogUnavailable as exc:
        logger.info("catalog lag unknown: %s", exc)
        return None
