"""Who may call the catalog's API, and how often.

- ``/api/sync/*`` (versions, lag) answer only the admin service: a bearer token,
  ``CATALOG_SYNC_API_TOKEN``, compared in constant time, and a throttle.
- The public read API (``/api/products/``) is anonymous, throttled per client address,
  and pages with a cursor: no ``COUNT(*)`` per page, however large the catalog grows.

Throttle counts live in Django's default cache, the database (``catalog_cache``): every
gunicorn worker and web process counts against the same rate (docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, SimpleRateThrottle

KEYWORD = b"bearer"


class ServiceClient:
    """The admin service, authenticated by its token."""

    is_authenticated = True
    pk = None

    def __str__(self) -> str:
        return "admin service"


class ServiceTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <CATALOG_SYNC_API_TOKEN>``."""

    def authenticate(self, request: Request) -> tuple[ServiceClient, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("the Authorization header must be: Bearer <token>")
        expected: str = settings.CATALOG_SYNC_API_TOKEN
        if not expected or not constant_time_compare(parts[1], expected.encode()):
            raise AuthenticationFailed("invalid service token")
        return ServiceClient(), None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="catalog sync"'


class SyncThrottle(SimpleRateThrottle):
    scope = "sync"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # One bucket per client address (the service client has no user id).
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


# What /api/sync/* use (catalog.sync_api): the service token, and the "sync" throttle.
SYNC_AUTHENTICATION: list[type[BaseAuthentication]] = [ServiceTokenAuthentication]
SYNC_PERMISSIONS: list[type[BasePermission]] = [IsAuthenticated]
SYNC_THROTTLES: list[type[BaseThrottle]] = [SyncThrottle]


class PublicThrottle(AnonRateThrottle):
    scope = "public"


class ProductCursor(CursorPagination):
    ordering = "product_id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
