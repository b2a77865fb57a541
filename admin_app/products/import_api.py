"""``POST /api/products/import/``: a JSON array or an NDJSON body, validated whole, applied in chunks.

The same service as ``manage.py import_products``. Answers 200 with the counts; 400
``{"errors": [{"line", "field", "message"}], "count": total}`` when anything is invalid
(nothing written); 409 ``{"detail", "applied", "total"}`` when the database failed while
applying (the first ``applied`` rows are in; the same body again completes it); 413
above ``PRODUCT_IMPORT_MAX_BYTES``; 415 for another body type.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from products.import_formats import read_json_array, read_json_lines
from products.permissions import CanImportProducts
from products.services import ImportRejected, ImportStopped, product_import
from products.token_api import DetailSerializer

JSON, NDJSON = "application/json", "application/x-ndjson"


class ImportStoppedSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    applied = serializers.IntegerField(help_text="rows applied (committed) before the failure")
    total = serializers.IntegerField(help_text="rows in the import")


class ImportResultSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class RowErrorSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField(help_text="the line of an NDJSON body; the position (from 1) in an array")
    field = serializers.CharField()
    message = serializers.CharField()


class ImportErrorsSerializer(serializers.Serializer[Any]):
    errors = RowErrorSerializer(many=True)  # type: ignore[assignment]  # DRF's metaclass takes it as a field
    count = serializers.IntegerField(help_text="all errors; at most the first 100 are listed")


def _too_large(limit: int) -> Response:
    detail = f"An import body may hold at most {limit} bytes; import larger files with manage.py import_products."
    return Response({"detail": detail}, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


class ProductImportView(APIView):
    """Create or update products by sku; identical rows are left alone. Takes add and change permissions."""

    permission_classes = [CanImportProducts]

    @extend_schema(
        request={
            JSON: {"type": "array", "items": {"$ref": "#/components/schemas/ProductRequest"}},
            NDJSON: {"type": "string", "description": "one product object per line"},
        },
        responses={
            200: ImportResultSerializer,
            400: ImportErrorsSerializer,
            409: ImportStoppedSerializer,
            413: DetailSerializer,
        },
        examples=[OpenApiExample("two products", [{"sku": "MUG-1", "title": "Mug", "price": "12.50"}])],
    )
    def post(self, request: Request) -> Response:
        limit: int = settings.PRODUCT_IMPORT_MAX_BYTES
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type not in (JSON, NDJSON):
            return Response(
                {"detail": f"Send {JSON} (an array) or {NDJSON} (one object per line), not {content_type!r}."},
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _too_large(limit)
        stream = request.stream
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            return _too_large(limit)
        rows = read_json_lines(body.splitlines()) if content_type == NDJSON else read_json_array(body)
        try:
            result = product_import(rows=rows)
        except ImportRejected as exc:
            errors = [{"line": e.line, "field": e.field, "message": e.message} for e in exc.row_errors]
            return Response({"errors": errors, "count": exc.count}, status.HTTP_400_BAD_REQUEST)
        except ImportStopped as exc:
            body = {"detail": str(exc), "applied": exc.applied, "total": exc.total}
            return Response(body, status.HTTP_409_CONFLICT)
        return Response({"created": result.created, "updated": result.updated, "unchanged": result.unchanged})
