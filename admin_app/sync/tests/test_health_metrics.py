"""The sync health page, the /metrics endpoint, and the start-up system checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.utils import timezone

from products.models import OutboxEvent
from products.tests.factories import make_product
from sync.drift_check import run_drift_check
from sync.relay import RoundResult
from sync.relay_status import RelayStatusRecorder
from sync_contract.celery_settings import CELERY_TASK_QUEUES
from sync_contract.checks import check_broker, check_celery_conf
from sync_contract.names import DEAD_LETTER_QUEUE
from testkit.users import basic_auth, count_hashes

HEALTH = "/admin/sync-health/"


# --- the health page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_health_page_is_for_staff_only(client, admin_client) -> None:
    response = client.get(HEALTH)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert 'href="/admin/sync-health/"' in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_the_health_page_shows_backlog_failures_lag_and_drift(admin_client, fake_catalog, broker_down) -> None:
    make_product()
    failing = make_product()
    OutboxEvent.objects.filter(product_id=failing.pk).update(attempts=3, last_error="OperationalError: refused")
    OutboxEvent.objects.update(occurred_at=timezone.now() - timedelta(minutes=5))
    RelayStatusRecorder(relay_id="host:9").record_round(RoundResult(claimed=1, failed=1, error="refused"))
    now = timezone.now()
    fake_catalog.lag = {
        "minutes": 15,
        "count": 40,
        "p50_seconds": 0.12,
        "p95_seconds": 0.8,
        "max_seconds": 2.0,
        "series": [
            {
                "start": (now - timedelta(minutes=m)).isoformat(),
                "count": 4,
                "p50_seconds": 0.1 * m,
                "p95_seconds": 0.2 * m,
            }
            for m in range(10, 0, -1)
        ],
    }
    run_drift_check()  # the catalog holds nothing: 2 products missing (but in flight: pending)

    response = admin_client.get(HEALTH)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="outbox-backlog" class="bad">2<' in html
    assert 'id="outbox-failing" class="bad">1<' in html
    assert "5 min" in html  # the oldest waiting event's age
    assert "OperationalError: refused" in html
    assert "unknown (the broker cannot be reached)" in html  # dead letters
    assert "p50 <strong>120 ms</strong>, p95 <strong>800 ms</strong>" in html
    assert '<svg id="lag-chart"' in html
    assert html.count("<circle") == 10
    assert 'id="drift-result"' in html
    assert "they agree" in html
    assert 'id="sync-banner"' in html


@pytest.mark.django_db
def test_the_health_page_without_catalog_says_unknown(admin_client, broker_down) -> None:
    html = admin_client.get(HEALTH).content.decode()
    assert "unknown: the catalog at http://127.0.0.1:9 cannot be reached" in html
    assert "No drift check has run yet" in html


@pytest.mark.django_db
def test_the_health_page_reads_the_dead_letter_depth_from_the_broker(admin_client, broker_vhost) -> None:
    with broker_vhost.channel() as channel:
        channel.queue_declare(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_purge(DEAD_LETTER_QUEUE)
        for body in (b"one", b"two", b"three"):
            channel.basic_publish("", DEAD_LETTER_QUEUE, body)
    html = admin_client.get(HEALTH).content.decode()
    assert '<strong class="bad">3</strong>' in html


# --- metrics ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_need_staff_or_the_scrape_credential(client, staff_user, plain_user, settings) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("customer")).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", "wrong")).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff")).status_code == 200
    settings.METRICS_BASIC_AUTH = ("prometheus", "scrape-secret")
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("prometheus", "scrape-secret")).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("prometheus", "nope")).status_code == 401
    client.force_login(staff_user)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_a_flood_of_wrong_passwords_at_metrics_gets_429_before_any_hash(
    client, staff_user, settings, monkeypatch
) -> None:
    settings.METRICS_PASSWORD_RATE = "3/minute"
    settings.METRICS_BASIC_AUTH = ("prometheus", "scrape-secret")
    hashes = count_hashes(monkeypatch)
    for guess in range(3):
        assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", f"guess-{guess}")).status_code == 401
    spent = len(hashes)
    assert spent >= 3

    flood = [client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff", f"flood-{n}")) for n in range(20)]

    assert {response.status_code for response in flood} == {429}
    assert 0 < int(flood[0]["Retry-After"]) <= 60
    assert len(hashes) == spent  # refused before the hash
    # The right staff password from that address waits too; another address, the scrape login do not.
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff")).status_code == 429
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("staff"), REMOTE_ADDR="10.0.0.9").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=basic_auth("prometheus", "scrape-secret")).status_code == 200


@pytest.mark.django_db
def test_metrics_report_backlog_failures_and_relays(admin_client, fake_catalog) -> None:
    make_product()
    failing = make_product()
    OutboxEvent.objects.filter(product_id=failing.pk).update(attempts=1)
    RelayStatusRecorder(relay_id="host:7").record_round(RoundResult(claimed=1, failed=1, error="x"))
    run_drift_check(grace_seconds=0)

    text = admin_client.get("/metrics").content.decode()

    assert "sync_outbox_backlog 2.0" in text
    assert "sync_outbox_failing 1.0" in text
    assert 'sync_relay_consecutive_failures{relay="host:7"} 1.0' in text
    assert 'sync_relay_publishing{relay="host:7"} 0.0' in text
    assert "sync_drift_ok 1.0" in text  # both products are still in flight (pending)
    assert "sync_outbox_oldest_pending_seconds " in text


@pytest.mark.django_db
def test_metrics_report_the_sync_and_dead_letter_queue_depths(admin_client, broker_vhost) -> None:
    from celery import current_app

    from sync_contract.names import SYNC_QUEUE
    from sync_contract.topology import declare_topology

    with current_app.connection_for_write() as connection:
        declare_topology(connection.default_channel)
    with broker_vhost.channel() as channel:
        for body in (b"one", b"two", b"three"):
            channel.basic_publish("", DEAD_LETTER_QUEUE, body)
        channel.basic_publish("", SYNC_QUEUE, b"waiting")

    text = admin_client.get("/metrics").content.decode()

    assert "sync_broker_up 1.0" in text
    assert f'sync_queue_messages{{queue="{DEAD_LETTER_QUEUE}"}} 3.0' in text
    assert f'sync_queue_messages{{queue="{SYNC_QUEUE}"}} 1.0' in text
    assert f'sync_queue_consumers{{queue="{SYNC_QUEUE}"}} 0.0' in text


@pytest.mark.django_db
def test_metrics_say_when_the_broker_does_not_answer(admin_client, broker_down) -> None:
    text = admin_client.get("/metrics").content.decode()
    assert "sync_broker_up 0.0" in text
    assert "sync_queue_messages{" not in text
    assert "sync_outbox_backlog" in text  # the database's figures are served all the same


# --- start-up checks --------------------------------------------------------------------------


def good_conf() -> dict:
    from sync_contract import celery_settings

    return {name[len("CELERY_") :].lower(): getattr(celery_settings, name) for name in celery_settings.__all__}


def ids(messages) -> set[str]:
    return {m.id for m in messages}


def test_the_shared_settings_pass_the_checks(celery_app) -> None:
    assert check_celery_conf(good_conf()) == []
    assert check_celery_conf(celery_app.conf) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"broker_transport_options": {}}, "sync.E001"),
        ({"task_serializer": "pickle"}, "sync.E002"),
        ({"accept_content": ["json", "pickle"]}, "sync.E003"),
        ({"result_accept_content": None}, "sync.E003"),
        ({"task_acks_late": False}, "sync.E004"),
        ({"task_reject_on_worker_lost": False}, "sync.E005"),
        ({"task_acks_on_failure_or_timeout": True}, "sync.E006"),
        ({"task_queues": ()}, "sync.E007"),
    ],
)
def test_each_wrong_setting_is_an_error(change, expected) -> None:
    conf = {**good_conf(), **change}
    messages = check_celery_conf(conf)
    assert expected in ids(messages)
    assert all(isinstance(m, Error) for m in messages)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"x-queue-type": "classic"}, "sync.E008"),
        ({"x-dead-letter-exchange": None}, "sync.E009"),
        ({"x-delivery-limit": None}, "sync.E010"),
        ({"x-overflow": "drop-head"}, "sync.E011"),
    ],
)
def test_a_queue_without_quorum_dead_lettering_or_limit_is_an_error(arguments, expected) -> None:
    from kombu import Queue

    (queue,) = CELERY_TASK_QUEUES
    args = {k: v for k, v in {**queue.queue_arguments, **arguments}.items() if v is not None}
    broken = Queue(
        queue.name, exchange=queue.exchange, routing_key=queue.routing_key, durable=True, queue_arguments=args
    )
    assert expected in ids(check_celery_conf({**good_conf(), "task_queues": (broken,)}))


@pytest.mark.timeout(30)
def test_an_unreachable_broker_is_a_warning_not_an_error(broker_down) -> None:
    (message,) = check_broker(broker_down)
    assert isinstance(message, Warning)
    assert message.id == "sync.W021"
    assert "guest:**@" in message.msg or "guest" not in message.msg  # no password in the message


@pytest.mark.timeout(60)
def test_queues_declared_with_other_arguments_are_an_error(fresh_vhost, point_celery_at) -> None:
    with fresh_vhost.channel() as channel:
        channel.queue_declare(DEAD_LETTER_QUEUE, durable=True)  # classic, not quorum

    (message,) = check_broker(point_celery_at(fresh_vhost.url))
    assert isinstance(message, Error)
    assert message.id == "sync.E020"
    assert "other arguments" in message.msg


@pytest.mark.timeout(30)
def test_manage_py_check_passes_with_the_broker_down(broker_down, capsys) -> None:
    call_command("check")  # raises SystemCheckError on any Error
    assert "sync.W021" in capsys.readouterr().err
