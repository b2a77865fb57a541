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
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.conf import settings

from products.selectors import HeldVersion
from sync_contract.checksums import MAX_PARTS, RangeSum, step_of

logger = logging.getLogger(__name__)

IDS_PER_CALL = 1000  # the catalog's limit per versions call
# A checksums call sums up to every row of the catalog (about 1 s at 1,000,000 here).
CHECKSUM_TIMEOUT = 30.0
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
    headers = {"Accept": "application/json"}
    if path.startswith("/api/sync/"):  # the service endpoints: the admin's token (never sent elsewhere)
        headers["Authorization"] = f"Bearer {settings.CATALOG_SYNC_API_TOKEN}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout or settings.CATALOG_API_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad JSON
        raise CatalogUnavailable(f"{type(exc).__name__}: {exc}") from exc


# Versions are PostgreSQL bigints; one the catalog claims beyond this is not believed (a
# repair above it could push a product's version to the bigint limit).
MAX_VERSION = 2**62


def _whole(value: Any, *, high: int) -> int:
    if type(value) is not int or not 0 < value <= high:
        raise ValueError(f"{value!r} is not a whole number in 1..{high}")
    return value


def _versions(rows: Any) -> dict[int, HeldVersion]:
    """The rows of a versions answer; CatalogUnavailable ("unknown") if any is malformed."""
    try:
        if not isinstance(rows, list):
            raise ValueError("'products' is not a list")
        held: dict[int, HeldVersion] = {}
        for row in rows:
            if not isinstance(row, dict) or type(row.get("deleted")) is not bool:
                raise ValueError(f"malformed row {str(row)[:100]}")
            held[_whole(row.get("id"), high=2**63 - 1)] = HeldVersion(
                version=_whole(row.get("version"), high=MAX_VERSION), deleted=row["deleted"]
            )
        return held
    except ValueError as exc:
        raise CatalogUnavailable(f"malformed answer from the catalog: {exc}") from exc


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise CatalogUnavailable(f"malformed answer from the catalog: no {name!r}")
    return body[name]


def versions_of(product_ids: Iterable[int]) -> dict[int, HeldVersion]:
    """The catalog's version of each of these products it holds; raises CatalogUnavailable."""
    ids = sorted(set(product_ids))
    found: dict[int, HeldVersion] = {}
    for start in range(0, len(ids), IDS_PER_CALL):
        chunk = ids[start : start + IDS_PER_CALL]
        body = _get("/api/sync/versions/", {"ids": ",".join(map(str, chunk))})
        found.update(_versions(_field(body, "products")))
    return found


def versions_or_none(product_ids: Iterable[int]) -> dict[int, HeldVersion] | None:
    """``versions_of``, or None ("unknown") when the catalog cannot answer."""
    try:
        return versions_of(product_ids)
    except CatalogUnavailable as exc:
        logger.info("catalog versions unknown: %s", exc)
        return None


def all_versions(
    *, page_size: int = PAGE_SIZE, after: int = 0, before: int | None = None
) -> Iterator[tuple[int, HeldVersion]]:
    """Every catalog row (ids above ``after``, below ``before``), tombstones included, in
    product_id order, page by page."""
    bound = {} if before is None else {"before": before}
    while True:
        body = _get("/api/sync/versions/", {"after": after, "limit": page_size, **bound})
        rows = _versions(_field(body, "products"))
        yield from sorted(rows.items())
        next_after = body.get("next_after")
        if next_after is None or not rows:
            return
        if type(next_after) is not int or next_after <= after:  # a page must move forward
            raise CatalogUnavailable(f"malformed answer from the catalog: next_after={next_after!r}")
        after = next_after


def range_sums(*, lo: int, hi: int, parts: int) -> tuple[list[RangeSum], int | None]:
    """The catalog's checksums of the live rows in [lo, hi) cut into ``parts``, and its
    highest product id; raises CatalogUnavailable, also for parts off the requested grid."""
    body = _get("/api/sync/checksums/", {"lo": lo, "hi": hi, "parts": parts}, timeout=CHECKSUM_TIMEOUT)
    raw, max_id = _field(body, "parts"), _field(body, "max_id")
    step = step_of(lo, hi, min(parts, MAX_PARTS))
    try:
        if max_id is not None:
            _whole(max_id, high=2**63 - 1)
        if not isinstance(raw, list):
            raise ValueError("'parts' is not a list")
        sums = []
        for part in raw:
            if not isinstance(part, dict) or type(part.get("lo")) is not int or type(part.get("rows")) is not int:
                raise ValueError(f"malformed part {str(part)[:100]}")
            start = part["lo"]
            if not (lo <= start < hi and (start - lo) % step == 0 and part.get("hi") == min(hi, start + step)):
                raise ValueError(f"part {str(part)[:100]} is not one of [{lo}, {hi}) in steps of {step}")
            checksum = part.get("checksum")
            if not 0 <= part["rows"] <= part["hi"] - start or not isinstance(checksum, str) or len(checksum) > 200:
                raise ValueError(f"malformed part {str(part)[:100]}")
            sums.append(RangeSum(lo=start, hi=part["hi"], rows=part["rows"], checksum=part["checksum"]))
        return sums, max_id
    except ValueError as exc:
        raise CatalogUnavailable(f"malformed answer from the catalog: {exc}") from exc


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
        if not _valid_lag(answer):
            raise CatalogUnavailable(f"malformed lag answer: {str(answer)[:100]}")
        return answer
    except CatalogUnavailable as exc:
        logger.info("catalog lag unknown: %s", exc)
        return None


def _number(value: Any, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return type(value) in (int, float) and value == value and 0 <= value < float("inf")


def _valid_lag(answer: Any) -> bool:
    """The shape the health page draws: numbers where numbers go, ISO times in the series."""
    if not isinstance(answer, dict) or not isinstance(answer.get("series"), list):
        return False
    if type(answer.get("minutes")) is not int or type(answer.get("count")) is not int:
        return False
    if not all(_number(answer.get(k), optional=True) for k in ("p50_seconds", "p95_seconds", "max_seconds")):
        return False
    for point in answer["series"]:
        if not isinstance(point, dict) or type(point.get("count")) is not int:
            return False
        if not (_number(point.get("p50_seconds")) and _number(point.get("p95_seconds"))):
            return False
        try:
            if datetime.fromisoformat(point["start"]).tzinfo is None:
                return False
        except (KeyError, TypeError, ValueError):
            return False
    return True
