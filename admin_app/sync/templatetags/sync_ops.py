from __future__ import annotations

from django import template
from django.template.context import Context

from sync.relay_status import PublishingProblem, publishing_problem

register = template.Library()


@register.inclusion_tag("sync/banner.html", takes_context=True)
def sync_banner(context: Context) -> dict[str, PublishingProblem | None]:
    """The broker-unreachable banner, for staff on every admin page (one small query)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {"problem": None}
    return {"problem": publishing_problem()}


@register.filter
def seconds(value: float | str | None) -> str:
    """A duration in seconds as staff read it: 850 ms, 12.3 s, 4 min 10 s, 2 h 5 min."""
    if value is None or value == "":
        return "unknown"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"
