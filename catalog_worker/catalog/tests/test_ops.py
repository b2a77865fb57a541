"""The catalog's operations side: sync endpoints, counters and metrics, dead letters, log lines."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pika
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_celery_results.models import TaskResult

from catalog import dead_letters
from catalog.api_access import PublicThrottle, SyncThrottle
from catalog.counters import counter_totals
from catalog.models import CatalogProduct, DeadLetterNote
from catalog.services import catalog_apply_events
from catalog.tasks import sync_products
from sync_contract.checksums import checksum, row_hash
from sync_contract.names import SYNC_QUEUE
from testkit.events import envelope_of, product_event
from testkit.messages import new_task_id, send_dead_letter, task_body
from testkit.users import basic_auth, count_hashes

pytestmark = pytest.mark.django_db


def age(product_id: int, *, applied_ago: float, lag: float) -> None:
    applied = timezone.now() - timedelta(seconds=applied_ago)
    occurred = applied - timedelta(seconds=lag)
    CatalogProduct.objects.filter(pk=product_id).update(applied_at=applied, occurred_at=occurred)


# --- /api/sync/ -------------------------------------------------------------------------------


def test_versions_by_ids_include_tombstones_and_leave_out_unknown_ids(service_client) -> None:
    catalog_apply_events(events=[product_event(1, 3), product_event(2, 2, op="delete"), product_event(5, 1)])

    body = service_client.get("/api/sync/versions/", {"ids": "1,2,3"}).json()

    assert body == {"products": [{"id": 1, "version": 3, "deleted": False}, {"id": 2, "version": 2, "deleted": True}]}


def test_versions_page_through_every_row_in_order(service_client) -> None:
    catalog_apply_events(events=[product_event(i, 1, op="delete" if i == 4 else "upsert") for i in range(1, 6)])

    first = service_client.get("/api/sync/versions/", {"after": 0, "limit": 2}).json()
    second = service_client.get("/api/sync/versions/", {"after": first["next_after"], "limit": 2}).json()
    last = service_client.get("/api/sync/versions/", {"after": second["next_after"], "limit": 2}).json()

    assert [r["id"] for r in first["products"] + second["products"] + last["products"]] == [1, 2, 3, 4, 5]
    assert (first["next_after"], second["next_after"], last["next_after"]) == (2, 4, None)
    assert second["products"][1] == {"id": 4, "version": 1, "deleted": True}


@pytest.mark.parametrize(
    "params",
    [{"ids": "1,x"}, {"ids": ",".join(map(str, range(1, 1002)))}, {"after": "-1"}, {"limit": "0"}, {"limit": "100000"}],
)
def test_bad_version_queries_are_400(service_client, params) -> None:
    assert service_client.get("/api/sync/versions/", params).status_code == 400


def test_lag_reports_percentiles_and_a_series_of_recent_applies(service_client) -> None:
    catalog_apply_events(events=[product_event(i, 1) for i in range(1, 11)])
    for i in range(1, 11):
        age(i, applied_ago=30 * i, lag=0.1 * i)  # 0.1 .. 1.0 s, spread over five minutes
    catalog_apply_events(events=[product_event(99, 1)])
    age(99, applied_ago=3600, lag=50)  # outside the window

    body = service_client.get("/api/sync/lag/", {"minutes": 15}).json()

    assert body["count"] == 10
    assert body["p50_seconds"] == pytest.approx(0.55, abs=0.01)
    assert body["p95_seconds"] == pytest.approx(0.955, abs=0.01)
    assert body["max_seconds"] == pytest.approx(1.0, abs=0.01)
    assert sum(p["count"] for p in body["series"]) == 10
    assert len(body["series"]) >= 5
    assert service_client.get("/api/sync/lag/", {"minutes": "0"}).status_code == 400


def test_versions_stop_below_before(service_client) -> None:
    catalog_apply_events(events=[product_event(i, 1) for i in range(1, 8)])

    body = service_client.get("/api/sync/versions/", {"after": 2, "before": 6, "limit": 10}).json()

    assert [r["id"] for r in body["products"]] == [3, 4, 5]
    assert body["next_after"] is None
    assert service_client.get("/api/sync/versions/", {"before": 0}).status_code == 400


def test_checksums_sum_the_live_rows_of_each_part_as_the_contract_says(service_client) -> None:
    live = {1: 3, 2: 1, 9: 2, 10: 7, 25: 1}
    catalog_apply_events(
        events=[product_event(pid, v) for pid, v in live.items()]
        + [product_event(5, 2, op="delete"), product_event(31, 4, op="delete")]
    )

    body = service_client.get("/api/sync/checksums/", {"lo": 0, "hi": 30, "parts": 3}).json()

    def expected(ids: list[int]) -> str:
        return checksum(len(ids), sum(live[i] for i in ids), sum(row_hash(i, live[i]) for i in ids))

    assert body == {
        "parts": [  # tombstones (5, 31) are left out; the empty part 20..29 holds 25
            {"lo": 0, "hi": 10, "rows": 3, "checksum": expected([1, 2, 9])},
            {"lo": 10, "hi": 20, "rows": 1, "checksum": expected([10])},
            {"lo": 20, "hi": 30, "rows": 1, "checksum": expected([25])},
        ],
        "max_id": 31,
    }
    narrow = service_client.get("/api/sync/checksums/", {"lo": 9, "hi": 11, "parts": 4}).json()
    assert narrow["parts"] == [
        {"lo": 9, "hi": 10, "rows": 1, "checksum": expected([9])},
        {"lo": 10, "hi": 11, "rows": 1, "checksum": expected([10])},
    ]


def test_checksums_change_with_any_version_and_refuse_bad_ranges(service_client) -> None:
    catalog_apply_events(events=[product_event(1, 1), product_event(2, 2)])
    before = service_client.get("/api/sync/checksums/", {"hi": 10}).json()["parts"]
    catalog_apply_events(events=[product_event(1, 2)])
    after = service_client.get("/api/sync/checksums/", {"hi": 10}).json()["parts"]
    assert before[0]["rows"] == after[0]["rows"] == 2
    assert before[0]["checksum"] != after[0]["checksum"]
    for bad in ({"lo": 5, "hi": 5}, {"parts": 0}, {"parts": 5000}, {"lo": -1}, {"hi": "x"}):
        assert service_client.get("/api/sync/checksums/", bad).status_code == 400, bad


def test_the_sync_endpoints_answer_only_the_admin_service(client, settings) -> None:
    for path in ("/api/sync/versions/", "/api/sync/checksums/", "/api/sync/lag/"):
        anonymous = client.get(path)
        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get(path, headers={"Authorization": "Bearer " + settings.CATALOG_SYNC_API_TOKEN + "x"})
        assert wrong.status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer"}).status_code == 401
        staff = get_user_model().objects.get_or_create(username="boss", is_staff=True, is_superuser=True)[0]
        client.force_login(staff)  # a staff session is no service credential
        assert client.get(path).status_code == 401
        client.logout()


def test_the_sync_endpoints_and_the_public_api_are_throttled(service_client, client, monkeypatch) -> None:
    cache.clear()
    monkeypatch.setattr(SyncThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(PublicThrottle, "rate", "2/min", raising=False)
    assert [service_client.get("/api/sync/versions/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [client.get("/api/products/").status_code for _ in range(3)] == [200, 200, 429]
    cache.clear()


def test_the_cache_table_is_unlogged_so_a_count_waits_for_no_wal_flush(db) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'catalog_cache'")
        assert cursor.fetchone() == ("u",)


# Another web process (a second gunicorn worker): its own Python, the same database.
OTHER_PROCESS = """
import django, sys
django.setup()
from django.test import Client
client = Client()
print(*[client.get("/api/products/", HTTP_HOST="127.0.0.1", REMOTE_ADDR="10.9.9.9").status_code for _ in range(2)])
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_web_processes_share_the_public_throttle_count(client, monkeypatch) -> None:
    monkeypatch.setattr(PublicThrottle, "rate", "3/min", raising=False)
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "catalog_project.settings.test",
        "CATALOG_DATABASE_URL": f"postgres://{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/"
        f"{database['NAME']}",
        "CATALOG_PUBLIC_API_RATE": "3/min",
    }
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert other.stdout.split() == ["200", "200"], other.stderr[-2000:]

    here = [client.get("/api/products/", REMOTE_ADDR="10.9.9.9").status_code for _ in range(2)]

    assert here == [200, 429]  # the other process's two requests count here


# --- counters, metrics, logs -----------------------------------------------------------------


def test_each_batch_is_counted_and_logged_with_its_products(caplog) -> None:
    envelope = envelope_of(product_event(1, 1), product_event(2, 1), product_event(2, 2))
    with caplog.at_level(logging.INFO, logger="catalog.tasks"):
        sync_products.apply(args=[envelope], task_id="batch-task").get()
        sync_products.apply(args=[envelope]).get()  # the same again: all stale

    assert counter_totals() == (2, 4, 2)
    line = next(r.message for r in caplog.records if r.message.startswith("batch of 3 events task_id=batch-task"))
    assert "applied=2 stale=1 products=1:1,2:1,2:2" in line


def test_a_single_event_logs_its_ids() -> None:
    event = product_event(7, 3)
    logger = logging.getLogger("catalog.tasks")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        sync_products.apply(args=[envelope_of(event)]).get()
    finally:
        logger.removeHandler(handler)
    message = records[-1].getMessage()
    assert f"event_id={event.event_id} product_id=7 version=3" in message


def test_metrics_need_staff_or_the_scrape_credential(client, staff_user, settings) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", "wrong")).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff")).status_code == 200
    settings.METRICS_BASIC_AUTH = ("prom", "s3cret")
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("prom", "s3cret")).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("prom", "s3cre")).status_code == 401


def test_a_flood_of_wrong_passwords_at_metrics_gets_429_before_any_hash(
    client, staff_user, settings, monkeypatch
) -> None:
    settings.METRICS_PASSWORD_RATE = "2/minute"
    hashes = count_hashes(monkeypatch)
    for guess in range(2):
        assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", f"guess-{guess}")).status_code == 401
    spent = len(hashes)

    flood = [client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", f"flood-{n}")) for n in range(20)]

    assert {response.status_code for response in flood} == {429}
    assert len(hashes) == spent  # refused before the hash
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff"), REMOTE_ADDR="10.0.0.9").status_code == 200


def test_metrics_report_counts_products_and_the_lag_histogram(staff_client) -> None:
    sync_products.apply(args=[envelope_of(product_event(1, 1), product_event(2, 1), product_event(3, 1, op="delete"))])
    sync_products.apply(args=[envelope_of(product_event(1, 1))])
    age(1, applied_ago=10, lag=0.3)
    age(2, applied_ago=10, lag=20)
    age(3, applied_ago=3600, lag=1)  # outside the window

    text = staff_client.get("/metrics").content.decode()

    assert 'catalog_sync_events_total{outcome="applied"} 3.0' in text
    assert 'catalog_sync_events_total{outcome="skipped"} 1.0' in text
    assert "catalog_sync_batches_total 2.0" in text
    assert 'catalog_products{state="live"} 2.0' in text
    assert 'catalog_products{state="deleted"} 1.0' in text
    assert 'catalog_sync_lag_recent_seconds_bucket{le="0.25"} 0.0' in text
    assert 'catalog_sync_lag_recent_seconds_bucket{le="0.5"} 1.0' in text
    assert 'catalog_sync_lag_recent_seconds_bucket{le="30"} 2.0' in text
    assert 'catalog_sync_lag_recent_seconds_bucket{le="+Inf"} 2.0' in text
    assert "catalog_sync_lag_recent_seconds_gsum 20.3" in text


# --- dead letters (the real broker, a vhost of this module) --------------------------------------


@pytest.fixture
def three_dead(broker):
    """An invalid payload (reason in the task results), an undecodable body (a note), a delivery-limit one."""
    invalid_id, limit_id = new_task_id(), new_task_id()
    TaskResult.objects.create(
        task_id=invalid_id,
        status="FAILURE",
        task_name="catalog.sync_products",
        result=json.dumps({"exc_type": "InvalidPayload", "exc_message": ["events[0].data.price must be >= 0"]}),
    )
    undecodable = b"{not json"
    dead_letters.record_undecodable(
        SimpleNamespace(headers={}, body=undecodable, content_type="application/json"), ValueError("Expecting value")
    )
    valid = task_body(envelope_of(product_event(42, 1)))
    with broker.channel() as channel:
        send_dead_letter(channel, task_body({"schema_version": 1, "events": []}), reason="rejected", task_id=invalid_id)
        send_dead_letter(channel, undecodable, reason="rejected", task_id=None)
        send_dead_letter(channel, valid, reason="delivery_limit", task_id=limit_id)
    rejected_id = new_task_id()  # what Celery stores when the task raises Reject
    TaskResult.objects.create(
        task_id=rejected_id,
        status="FAILURE",
        task_name="catalog.sync_products",
        result=json.dumps(
            {
                "exc_type": "Reject",
                "exc_module": "celery.exceptions",
                "exc_message": ["events must be a list of 1..500 items", False],
            }
        ),
    )
    assert dead_letters._result_reason(TaskResult.objects.get(task_id=rejected_id).result) == (
        "rejected by the task: events must be a list of 1..500 items"
    )
    return {
        "invalid": invalid_id,
        "undecodable": dead_letters.message_key({}, undecodable),
        "limit": limit_id,
        "valid_body": valid,
    }


def test_listing_shows_each_reason_and_leaves_the_queue_as_it_was(three_dead, celery_app) -> None:
    depth, letters = dead_letters.browse(celery_app)

    assert depth == 3
    by_key = {letter.key: letter for letter in letters}
    assert by_key[three_dead["invalid"]].detail == "InvalidPayload: events[0].data.price must be >= 0"
    assert by_key[three_dead["invalid"]].death_reason == "rejected"
    assert by_key[three_dead["invalid"]].task_name == "catalog.sync_products"
    assert by_key[three_dead["undecodable"]].detail.startswith("undecodable body: ValueError")
    assert by_key[three_dead["undecodable"]].body_preview == "{not json"
    assert by_key[three_dead["limit"]].death_reason == "delivery_limit"
    assert "delivered too often" in by_key[three_dead["limit"]].detail
    assert dead_letters.browse(celery_app)[0] == 3


@pytest.mark.parametrize(
    "x_death", ["garbage", [1, "two", None], [{"count": "many", "reason": 7, "time": "yesterday"}], [{"count": -5}], {}]
)
def test_malformed_death_headers_are_listed_never_a_crash(broker, celery_app, admin_client, x_death) -> None:
    headers = {"id": new_task_id(), "task": "catalog.sync_products", "x-death": x_death}
    with broker.channel() as channel:
        channel.basic_publish(
            "catalog.dlx",
            "catalog.product_sync.dead",
            task_body({"schema_version": 1, "events": []}),
            pika.BasicProperties(headers=headers, content_type="application/json"),
        )
    depth, letters = dead_letters.browse(celery_app)
    assert depth == 1
    assert letters[0].death_count >= 1
    assert admin_client.get("/admin/dead-letters/").status_code == 200
    out = StringIO()
    call_command("dead_letters", "list", stdout=out)
    assert headers["id"] in out.getvalue()


def test_replay_one_republishes_it_unchanged_and_removes_it(three_dead, broker, celery_app) -> None:
    result = dead_letters.replay(celery_app, keys=[three_dead["limit"], "not-there"])

    assert result.replayed == [three_dead["limit"]]
    assert result.not_found == ["not-there"]
    ((properties, body),) = broker.drain(SYNC_QUEUE)
    headers = properties.headers
    assert body == three_dead["valid_body"]
    assert headers["id"] == three_dead["limit"]
    assert headers["task"] == "catalog.sync_products"
    assert headers["x-first-death-reason"] == "delivery_limit"
    depth, letters = dead_letters.browse(celery_app)
    assert depth == 2
    assert three_dead["limit"] not in {letter.key for letter in letters}


def test_the_command_lists_replays_all_and_purges(three_dead, broker, celery_app) -> None:
    out = StringIO()
    call_command("dead_letters", "list", stdout=out)
    assert "3 message(s)" in out.getvalue()
    assert "InvalidPayload" in out.getvalue()

    with pytest.raises(CommandError, match="--all or the ids"):
        call_command("dead_letters", "replay", stdout=StringIO())
    call_command("dead_letters", "replay", three_dead["invalid"], stdout=StringIO())
    assert len(broker.drain(SYNC_QUEUE)) == 1

    with pytest.raises(CommandError, match="--yes"):
        call_command("dead_letters", "purge", stdout=StringIO())
    assert dead_letters.browse(celery_app)[0] == 2
    call_command("dead_letters", "purge", "--yes", stdout=StringIO())
    assert dead_letters.browse(celery_app)[0] == 0

    with broker.channel() as channel:
        send_dead_letter(channel, b"{}", reason="rejected", task_id="again")
    call_command("dead_letters", "replay", "--all", stdout=StringIO())
    assert dead_letters.browse(celery_app)[0] == 0
    assert len(broker.drain(SYNC_QUEUE)) == 1


def test_an_unreachable_broker_is_a_clear_command_error(broker_down) -> None:
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("dead_letters", "list", stdout=StringIO())


def test_the_admin_page_lists_and_acts_for_staff_only(three_dead, broker, staff_user, celery_app) -> None:
    anonymous = Client()
    assert anonymous.get("/admin/dead-letters/").status_code == 302
    assert anonymous.post("/admin/dead-letters/", {"action": "purge", "confirm": "yes"}).status_code == 302
    assert dead_letters.browse(celery_app)[0] == 3

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert 'href="/admin/dead-letters/"' in client.get("/admin/").content.decode()
    page = client.get("/admin/dead-letters/")
    html = page.content.decode()
    assert "<strong>3</strong> messages in the queue" in html
    assert "InvalidPayload: events[0].data.price must be &gt;= 0" in html
    assert "undecodable body" in html
    assert client.post("/admin/dead-letters/", {"action": "replay", "key": three_dead["limit"]}).status_code == 403
    token = page.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(
        "/admin/dead-letters/",
        {"action": "replay", "key": three_dead["limit"], "csrfmiddlewaretoken": token},
        follow=True,
    )
    assert "Replayed 1 messages" in response.content.decode()
    assert len(broker.drain(SYNC_QUEUE)) == 1

    response = client.post("/admin/dead-letters/", {"action": "purge", "csrfmiddlewaretoken": token}, follow=True)
    assert "Tick the confirmation box" in response.content.decode()
    assert dead_letters.browse(celery_app)[0] == 2
    client.post("/admin/dead-letters/", {"action": "purge", "confirm": "yes", "csrfmiddlewaretoken": token})
    assert dead_letters.browse(celery_app)[0] == 0


def test_the_admin_page_without_broker_says_so(staff_client, broker_down) -> None:
    response = staff_client.get("/admin/dead-letters/")
    assert response.status_code == 200
    assert "The broker cannot be reached" in response.content.decode()


def test_the_catalog_admin_shows_products_and_task_results(admin_client) -> None:
    catalog_apply_events(events=[product_event(1, 1, sku="SHOWN-1")])
    TaskResult.objects.create(task_id="task-shown", status="SUCCESS", task_name="catalog.sync_products")
    assert "SHOWN-1" in admin_client.get("/admin/catalog/catalogproduct/").content.decode()
    assert "task-shown" in admin_client.get("/admin/django_celery_results/taskresult/").content.decode()
    assert DeadLetterNote.objects.count() == 0


def test_a_view_only_staff_member_reads_the_dead_letters_but_cannot_replay_or_purge(
    three_dead, broker, viewer_client, celery_app
) -> None:
    page = viewer_client.get("/admin/dead-letters/")
    assert page.status_code == 200
    assert "<strong>3</strong> messages in the queue" in page.content.decode()
    assert 'value="replay_all"' not in page.content.decode()  # no button it may not use
    assert 'value="purge"' not in page.content.decode()

    for form in ({"action": "replay", "key": three_dead["limit"]}, {"action": "replay_all"}):
        assert viewer_client.post("/admin/dead-letters/", form).status_code == 403
    assert viewer_client.post("/admin/dead-letters/", {"action": "purge", "confirm": "yes"}).status_code == 403

    assert dead_letters.browse(celery_app)[0] == 3
    assert broker.drain(SYNC_QUEUE) == []


def test_replaying_and_purging_each_take_their_own_permission(three_dead, broker, viewer_user, celery_app) -> None:
    viewer_user.user_permissions.add(Permission.objects.get(codename="replay_dead_letters"))
    client = Client()
    client.force_login(viewer_user)

    assert client.post("/admin/dead-letters/", {"action": "purge", "confirm": "yes"}).status_code == 403
    assert dead_letters.browse(celery_app)[0] == 3
    assert client.post("/admin/dead-letters/", {"action": "replay", "key": three_dead["limit"]}).status_code == 302
    assert dead_letters.browse(celery_app)[0] == 2
