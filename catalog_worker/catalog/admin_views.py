"""The catalog admin's dead-letter page: list, replay one or all, purge (staff only, POST + CSRF).

The page shows the first ``BROWSE_LIMIT`` messages and the queue's count; "Replay all"
replays one bounded chunk per request (catalog.dead_letters.replay) and says how many remain.

Each needs its permission: reading view_deadletternote, replaying replay_dead_letters,
purging purge_dead_letters (a 403 otherwise)."""

from __future__ import annotations

from celery import current_app
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from catalog import dead_letters
from sync_contract.names import DEAD_LETTER_QUEUE


@require_http_methods(["GET", "POST"])
def dead_letter_page(request: HttpRequest) -> HttpResponse:
    _require(request, "catalog.view_deadletternote")
    if request.method == "POST":
        return _act(request)
    context = {
        **admin.site.each_context(request),
        "title": "Dead letters",
        "queue": DEAD_LETTER_QUEUE,
        "broker_error": None,
        "depth": None,
        "letters": [],
    }
    try:
        context["depth"], context["letters"] = dead_letters.browse(current_app)
    except dead_letters.BrokerUnavailable as exc:
        context["broker_error"] = str(exc)
    return TemplateResponse(request, "catalog/dead_letters.html", context)


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs the permission {permission}")


_ACTION_PERMISSIONS = {
    "replay": "catalog.replay_dead_letters",
    "replay_all": "catalog.replay_dead_letters",
    "purge": "catalog.purge_dead_letters",
}


def _act(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action")
    if action in _ACTION_PERMISSIONS:
        _require(request, _ACTION_PERMISSIONS[action])
    here = HttpResponseRedirect(reverse("catalog-dead-letters"))
    try:
        if action == "replay":
            keys = [k for k in request.POST.getlist("key") if k]
            if not keys:
                messages.warning(request, "Nothing selected to replay.")
                return here
            result = dead_letters.replay(current_app, keys=keys)
            _report_replay(request, result)
        elif action == "replay_all":
            _report_replay(request, dead_letters.replay(current_app, keys=None), chunk=True)
        elif action == "purge":
            if request.POST.get("confirm") != "yes":
                messages.error(request, "Tick the confirmation box to purge the dead-letter queue.")
                return here
            count = dead_letters.purge(current_app)
            messages.success(request, f"Purged {count} dead-lettered messages.")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except dead_letters.BrokerUnavailable as exc:
        messages.error(request, f"The broker cannot be reached: {exc}")
    return here


def _report_replay(request: HttpRequest, result: dead_letters.ReplayResult, *, chunk: bool = False) -> None:
    if result.replayed:
        messages.success(request, f"Replayed {len(result.replayed)} messages to the sync queue.")
    else:
        messages.info(request, "No message replayed.")
    if chunk and result.remaining:
        # One bounded chunk per request: never past the web timeout, however many there are.
        messages.info(request, f"{result.remaining} still in the dead-letter queue: Replay all again to go on.")
    if result.not_found:
        messages.warning(request, f"Not in the dead-letter queue any more: {', '.join(result.not_found)}")
