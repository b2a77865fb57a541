"""The URLs both services lay out alike: a staff page, the admin, the API, metrics, probes."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path

from sync_contract.health import ReadinessCheck, healthz, readyz_view

View = Callable[..., HttpResponse]


def service_urlpatterns(
    *,
    staff_page: tuple[str, View, str],
    schema: tuple[View, View],
    api: str,
    metrics: Callable[[HttpRequest], HttpResponse],
    ready: tuple[ReadinessCheck, ...],
) -> list[URLPattern | URLResolver]:
    """``staff_page`` is (route, view, name): served to staff only, before the admin's catch-all;
    ``schema``: the OpenAPI schema's view and its docs page; ``ready``: what ``/readyz`` checks."""
    route, view, name = staff_page
    schema_view, docs_view = schema
    return [
        path(route, admin.site.admin_view(view), name=name),
        path("admin/", admin.site.urls),
        path("api/schema/", schema_view, name="schema"),
        path("api/docs/", docs_view, name="api-docs"),
        path("api/", include(api)),
        path("metrics", metrics, name="metrics"),
        # No login: liveness (the process serves) and readiness (what the service needs answers).
        path("healthz", healthz, name="healthz"),
        path("readyz", readyz_view(*ready), name="readyz"),
    ]
