"""Security: who may see and change what, JSON only, production settings, no secret in the repo or logs.

What Flower serves without a login (Flower 2.2): ``/healthcheck`` ("OK") and
``/metrics`` (Prometheus: event counts per task name, worker and event type, task
runtimes, worker online/prefetch gauges). Neither carries task arguments, results or
ids; the test below runs tasks, reads what Flower shows of them with the login, and
checks that none of it appears without it.
Everything else (pages, ``/api/*``) answers 401 without the right credentials.
"""

import contextlib
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from testkit.broker import rabbitmqctl
from testkit.paths import REPO
from testkit.processes import run_manage
from testkit.users import STAFF_USER
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

FLOWER_PROTECTED = [
    "/",
    "/workers",
    "/tasks",
    "/tasks/datatable",
    "/broker",
    "/api/workers",
    "/api/tasks",
    "/api/task/types",
    "/api/queues/length",
]
FLOWER_OPEN = ["/healthcheck", "/metrics"]


def test_flower_needs_its_credentials_and_no_process_logs_the_broker_password(reliability_stack):
    """Every process runs with a broker user of its own password in CELERY_BROKER_URL."""
    stack = reliability_stack()
    marker = "MARKER" + uuid.uuid4().hex[:10]
    broker_user, broker_password = f"rel-{stack.name}", "pw" + uuid.uuid4().hex
    rabbitmqctl("add_user", broker_user, broker_password)
    try:
        rabbitmqctl("set_permissions", "-p", stack.vhost, broker_user, ".*", ".*", ".*")
        broker_url = f"amqp://{broker_user}:{broker_password}@127.0.0.1:{stack.broker.port}/{stack.vhost}"
        outputs = _flower_checks(stack, marker, broker_url)
    finally:
        stack.stop_all()
        rabbitmqctl("delete_user", broker_user, check=False)
    logs = {p.name: p.log() for p in stack.processes}
    assert all(logs.values())
    for name, text in [*logs.items(), *((f"manage.py check {i}", out) for i, out in enumerate(outputs))]:
        assert broker_password not in text, f"the broker password appears in {name}"


def _flower_checks(stack, marker: str, broker_url: str) -> list[str]:
    env = {"CELERY_BROKER_URL": broker_url}
    stack.start("catalog-worker", env=env)
    stack.start("admin-relay", env=env)
    stack.start("admin-web", env=env)
    flower = stack.start("flower", env=env)
    wait_until(lambda: requests.get(stack.url("flower", "/healthcheck"), timeout=3).ok, timeout=120, what="flower up")
    stack.wait_for_consumers(1)
    user, password = stack.flower_auth.split(":")

    def flower_tasks() -> dict:
        return requests.get(stack.url("flower", "/api/tasks"), auth=(user, password), timeout=5).json()

    # Flower binds its event queue a little after it answers; events sent before are not
    # for it. Edit until it lists a task (bounded).
    for round_ in range(6):
        stack.edit_products(f"{marker}-{round_}", 1)
        with contextlib.suppress(TimeoutError):
            wait_until(flower_tasks, timeout=15, interval=0.5, what="flower lists a task")
            break
    tasks = flower_tasks()
    assert tasks, "Flower never listed a task: the negative checks below would prove nothing"
    # What only a logged-in user may see: task ids and the arguments as Flower shows them.
    shown_args = [t.get("args") or "" for t in tasks.values()]
    secrets = [*tasks, marker, *(a for a in shown_args if len(a) >= 8)]

    for path in FLOWER_PROTECTED:
        for auth in (None, (user, "wrong-" + password), ("nobody", password)):
            response = requests.get(stack.url("flower", path), auth=auth, timeout=10, allow_redirects=False)
            assert response.status_code == 401, (path, auth and auth[0], response.status_code)
            assert not any(secret in response.text for secret in secrets), path
    response = requests.post(
        stack.url("flower", "/api/task/send-task/catalog.sync_products"), json={"args": []}, timeout=10
    )
    assert response.status_code == 401
    for path in FLOWER_OPEN:
        response = requests.get(stack.url("flower", path), timeout=10)
        assert response.status_code == 200, path
        assert not any(secret in response.text for secret in secrets), f"{path} shows task ids or arguments"
    assert requests.get(stack.url("flower", "/api/workers"), auth=(user, password), timeout=10).ok
    assert flower.alive()

    # A broker that refuses the login, and one that cannot be reached: both are reported.
    outputs = []
    for broken in (
        broker_url.replace(":" + broker_url.split(":")[2].split("@")[0] + "@", ":wrong@"),
        broker_url.replace(f":{stack.broker.port}/", ":1/"),
    ):
        for project in ("admin", "catalog"):
            result = run_manage(project, "check", env={**stack.env, "CELERY_BROKER_URL": broken}, check=False)
            outputs.append(result.stdout + result.stderr)
    assert sum("sync.W021" in out for out in outputs) == 4, outputs
    return outputs


def test_admin_api_needs_staff_and_session_writes_need_csrf(reliability_stack):
    stack = reliability_stack()
    stack.admin_action("create-user", "plain", "--password", "plain-password-123")
    stack.start("admin-web")
    stack.start("catalog-web")
    url = stack.url("admin", "/api/products/")
    wait_until(lambda: requests.get(url, timeout=3).status_code in (401, 403), timeout=90, what="admin API up")

    # Anonymous: 401 with a challenge, for reads and writes.
    for method in ("get", "post"):
        response = getattr(requests, method)(url, json={"sku": "X", "title": "x", "price": "1"}, timeout=10)
        assert response.status_code == 401, response.text
        assert "WWW-Authenticate" in response.headers
        assert response.json()["detail"]
    # Wrong password, and a logged-in user who is not staff.
    assert requests.get(url, auth=(STAFF_USER, "wrong"), timeout=10).status_code == 401
    assert requests.get(url, auth=("plain", "plain-password-123"), timeout=10).status_code == 403
    # The admin's /metrics is staff only as well.
    assert requests.get(stack.url("admin", "/metrics"), timeout=10).status_code == 401

    # A staff session without the CSRF token: every write refused, nothing written.
    api = stack.admin_api()
    created = api.post(url, json={"sku": "CSRF-1", "title": "with token", "price": "1.00"}, timeout=10)
    assert created.status_code == 201, created.text
    item = stack.url("admin", f"/api/products/{created.json()['id']}/")
    del api.headers["X-CSRFToken"]
    for method, target, body in (
        ("post", url, {"sku": "CSRF-2", "title": "t", "price": "1.00"}),
        ("patch", item, {"title": "changed"}),
        ("put", item, {"sku": "CSRF-1", "title": "t", "price": "2.00"}),
        ("delete", item, None),
    ):
        response = getattr(api, method)(target, json=body, timeout=10)
        assert response.status_code == 403, (method, response.status_code)
        assert "CSRF" in response.json()["detail"]
    assert [r[1] for r in stack.admin_state().values()] == ["CSRF-1"]
    assert stack.admin_state()[created.json()["id"]][0] == 1  # version unchanged

    # The catalog's API is public and read-only.
    catalog = stack.url("catalog", "/api/products/")
    wait_until(lambda: requests.get(catalog, timeout=3).ok, timeout=90, what="catalog API up")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(requests, method)(catalog, json={}, timeout=10).status_code in (401, 403, 405)


def is_test_code(path: str) -> bool:
    """The suites and their toolkit (testkit/)."""
    return path.startswith(("tests/", "testkit/")) or "/tests/" in path


def test_no_pickle_anywhere():
    """JSON only on both sides (settings); a pickle message is dead-lettered (test_bad_input)."""
    from sync_contract import celery_settings

    assert celery_settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert celery_settings.CELERY_RESULT_ACCEPT_CONTENT == ["json"]
    assert celery_settings.CELERY_TASK_SERIALIZER == celery_settings.CELERY_RESULT_SERIALIZER == "json"
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for path in tracked:
        if is_test_code(path):
            continue  # tests publish pickle on purpose, to prove it is refused
        text = (REPO / path).read_text(errors="replace")
        if re.search(
            r"^\s*(import pickle|from pickle|import dill|import yaml)|pickle\.loads|yaml\.load\(|"
            r"[\"']pickle[\"']|x-python-serialize",
            text,
            re.M,
        ):
            offenders.append(path)
    assert offenders == []


PRODUCTION = {
    "admin": ("admin_project.settings.production", "ADMIN_DATABASE_URL"),
    "catalog": ("catalog_project.settings.production", "CATALOG_DATABASE_URL"),
}


@pytest.mark.parametrize("service", sorted(PRODUCTION))
def test_production_settings_pass_the_deploy_check_and_need_their_secrets(service, db_templates):
    settings_module, db_var = PRODUCTION[service]
    template = db_templates[0] if service == "admin" else db_templates[1]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": settings_module,
        # What a production deployment sets (served behind TLS).
        "DJANGO_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "CATALOG_SYNC_API_TOKEN": uuid.uuid4().hex,
        "CELERY_BROKER_URL": "amqp://sync:not-the-real-one@127.0.0.1:5672/prod",
        db_var: f"postgres://root@127.0.0.1:5432/{template}",
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "DJANGO_SECURE_COOKIES": "1",
    }
    result = run_manage(
        service, "check", "--deploy", "--fail-level", "WARNING", "--tag", "security", env=env, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for missing in ("DJANGO_SECRET_KEY", "CATALOG_SYNC_API_TOKEN", "CELERY_BROKER_URL", db_var):
        short = {k: v for k, v in env.items() if k != missing}
        result = run_manage(service, "check", env=short, check=False)
        assert result.returncode != 0, missing
        assert f"{missing} must be set" in result.stderr, result.stderr[-500:]


SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "URL with a password": re.compile(r"[a-z+]+://[^\s:/@'\"]+:([^\s@'\"$<{}]+)@"),
    "assigned secret": re.compile(r"(?i)(secret_key|password|passwd|token)\s*[:=]\s*['\"]([^'\"\s$]{12,})['\"]"),
}
# Local-development values, documented as such (docs/deployment.md, CELERY_BROKER_URL: guest:guest is the local broker).
ALLOWED_SECRETS = {
    "guest",
    "password",
    "pass",
    "secret",
    "change-me",
    "changeme",
    "local-development-only-not-a-secret",
}


def test_no_secret_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for path in tracked:
        if is_test_code(path):
            continue  # test fixtures use throw-away values on purpose
        try:
            text = (REPO / path).read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                value = match.group(match.lastindex or 0)
                if value.lower() in ALLOWED_SECRETS or value.startswith(("example", "your-", "<")):
                    continue
                found.append(f"{path}: {name}: {match.group(0)[:80]}")
    assert found == [], "\n".join(found)
