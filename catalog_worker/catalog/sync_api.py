"""Read-only endpoints for the admin service: which versions the catalog holds, and
how far behind the admin it runs. Only for the admin service (its bearer token,
``CATALOG_SYNC_API_TOKEN``) and throttled (``catalog.api_access``): they list deleted
product ids and run percentile queries.

    GET /api/sync/versions/?ids=1,2,3          the rows of these ids (missing ids are left out)
    GET /api/sync/versions/?after=0&limit=1000 every row, tombstones included, by product_id
                                               (&before=N: only ids below N)
    GET /api/sync/checksums/?lo=0&hi=N&parts=P  per-range checksums of the live rows
    GET /api/sync/lag/?minutes=15              commit-to-applied lag: p50/p95 and a series
"""

from __future__ import annotations

from typing import TypedDict

from django.db import connection
from django.db.models import Max, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api_access import SYNC_AUTHENTICATION, SYNC_PERMISSIONS, SYNC_THROTTLES
from catalog.lag import MAX_MINUTES, lag_summary
from catalog.models import CatalogProduct
from catalog.sql import RANGE_SUMS_SQL
from sync_contract.checksums import MAX_ID, MAX_PARTS, range_sums, step_of

MAX_IDS = 1000
MAX_PAGE = 5000
DEFAULT_PAGE = 1000


def _bad(message: str) -> Response:
    return Response({"detail": message}, status=400)


def _int(raw: str | None, default: int, *, low: int, high: int) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


class VersionRow(TypedDict):
    id: int
    version: int
    deleted: bool


def _rows(queryset: QuerySet[CatalogProduct]) -> list[VersionRow]:
    return [
        {"id": pid, "version": version, "deleted": deleted}
        for pid, version, deleted in queryset.values_list("product_id", "version", "deleted")
    ]


_ROW = inline_serializer(
    "VersionRow",
    {"id": serializers.IntegerField(), "version": serializers.IntegerField(), "deleted": serializers.BooleanField()},
)
_DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})


@extend_schema(
    parameters=[
        OpenApiParameter("ids", OpenApiTypes.STR, description=f"comma-separated product ids (at most {MAX_IDS})"),
        OpenApiParameter("after", OpenApiTypes.INT, description="page: product ids above this"),
        OpenApiParameter("limit", OpenApiTypes.INT, description=f"page size, 1..{MAX_PAGE}"),
        OpenApiParameter("before", OpenApiTypes.INT, description="page: product ids below this (default: no bound)"),
    ],
    responses={
        200: inline_serializer(
            "Versions",
            {
                "products": _ROW.__class__(many=True),
                "next_after": serializers.IntegerField(required=False, allow_null=True),
            },
        ),
        400: _DETAIL,
    },
)
@api_view(["GET"])
@authentication_classes(SYNC_AUTHENTICATION)
@permission_classes(SYNC_PERMISSIONS)
@throttle_classes(SYNC_THROTTLES)
def versions(request: Request) -> Response:
    raw_ids = request.query_params.get("ids")
    if raw_ids is not None:
        try:
            ids = sorted({int(part) for part in raw_ids.split(",") if part.strip()})
        except ValueError:
            return _bad("ids must be a comma-separated list of product ids")
        if len(ids) > MAX_IDS:
            return _bad(f"at most {MAX_IDS} ids per request")
        rows = _rows(CatalogProduct.objects.filter(product_id__in=ids).order_by("product_id"))
        return Response({"products": rows})

    after = _int(request.query_params.get("after"), 0, low=0, high=2**63 - 1)
    limit = _int(request.query_params.get("limit"), DEFAULT_PAGE, low=1, high=MAX_PAGE)
    before = _int(request.query_params.get("before"), MAX_ID, low=1, high=MAX_ID)
    if after is None or limit is None or before is None:
        return _bad(f"after must be a product id >= 0, before one >= 1 and limit 1..{MAX_PAGE}")
    page = CatalogProduct.objects.filter(product_id__gt=after, product_id__lt=before).order_by("product_id")
    rows = _rows(page[:limit])
    next_after = rows[-1]["id"] if len(rows) == limit else None
    return Response({"products": rows, "next_after": next_after})


@extend_schema(
    parameters=[
        OpenApiParameter("lo", OpenApiTypes.INT, description="the range's first product id (default 0)"),
        OpenApiParameter("hi", OpenApiTypes.INT, description=f"the first id after the range, lo < hi <= {MAX_ID}"),
        OpenApiParameter("parts", OpenApiTypes.INT, description=f"equal parts to cut the range into, 1..{MAX_PARTS}"),
    ],
    responses={
        200: inline_serializer(
            "RangeChecksums",
            {
                "parts": inline_serializer(
                    "RangeChecksum",
                    {
                        "lo": serializers.IntegerField(),
                        "hi": serializers.IntegerField(),
                        "rows": serializers.IntegerField(),
                        "checksum": serializers.CharField(),
                    },
                    many=True,
                ),
                "max_id": serializers.IntegerField(allow_null=True),
            },
        ),
        400: _DETAIL,
    },
)
@api_view(["GET"])
@authentication_classes(SYNC_AUTHENTICATION)
@permission_classes(SYNC_PERMISSIONS)
@throttle_classes(SYNC_THROTTLES)
def checksums(request: Request) -> Response:
    """The live rows of [lo, hi) cut into ``parts`` equal id ranges: rows and checksum of each
    non-empty one (sync_contract.checksums), and the highest product id held, tombstones included."""
    lo = _int(request.query_params.get("lo"), 0, low=0, high=MAX_ID - 1)
    hi = _int(request.query_params.get("hi"), MAX_ID, low=1, high=MAX_ID)
    parts = _int(request.query_params.get("parts"), 1, low=1, high=MAX_PARTS)
    if lo is None or hi is None or parts is None or hi <= lo:
        return _bad(f"lo >= 0, hi <= {MAX_ID} with lo < hi, and parts 1..{MAX_PARTS}")
    step = step_of(lo, hi, parts)
    with connection.cursor() as cursor:
        cursor.execute(RANGE_SUMS_SQL, {"lo": lo, "hi": hi, "step": step})
        sums = range_sums(cursor.fetchall(), lo=lo, hi=hi, step=step)
    max_id = CatalogProduct.objects.aggregate(m=Max("product_id"))["m"]
    return Response(
        {"parts": [{"lo": s.lo, "hi": s.hi, "rows": s.rows, "checksum": s.checksum} for s in sums], "max_id": max_id}
    )


@extend_schema(
    parameters=[OpenApiParameter("minutes", OpenApiTypes.INT, description=f"1..{MAX_MINUTES} (default 15)")],
    responses={200: OpenApiTypes.OBJECT, 400: _DETAIL},
)
@api_view(["GET"])
@authentication_classes(SYNC_AUTHENTICATION)
@permission_classes(SYNC_PERMISSIONS)
@throttle_classes(SYNC_THROTTLES)
def lag(request: Request) -> Response:
    minutes = _int(request.query_params.get("minutes"), 15, low=1, high=MAX_MINUTES)
    if minutes is None:
        return _bad(f"minutes must be 1..{MAX_MINUTES}")
    summary = lag_summary(minutes=minutes)
    return Response(
        {
            "minutes": summary.minutes,
            "count": summary.count,
            "p50_seconds": summary.p50,
            "p95_seconds": summary.p95,
            "max_seconds": summary.max,
            "series": [
                {"start": p.start.isoformat(), "count": p.count, "p50_seconds": p.p50, "p95_seconds": p.p95}
                for p in summary.series
            ],
        }
    )
