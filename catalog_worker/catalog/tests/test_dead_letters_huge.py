"""A huge dead-letter queue: looked at in a bounded window, replayed in bounded chunks, none lost or doubled."""

from __future__ import annotations

import re
import time
import tracemalloc
from io import StringIO

import pika
import pytest
from django.core.management import call_command

from catalog import dead_letters
from sync_contract.names import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, DEAD_LETTER_ROUTING_KEY, SYNC_QUEUE
from testkit.messages import death_headers, new_task_id, task_headers
from testkit.waiting import wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(900)]

MANY = 20_000
# gunicorn's default worker timeout (docker/start/*-web set no other): a request past it is killed.
WEB_TIMEOUT = 30.0
# What one look may hold: far less than the queue (20,000 messages with their headers).
MEMORY_BOUND = 10 * 1024 * 1024


def fill(url: str, ids: list[str]) -> None:
    """The dead letters, published without confirms (the count is awaited afterwards)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for task_id in ids:
            headers = {**task_headers(task_id), **death_headers("rejected")}
            properties = pika.BasicProperties(headers=headers, content_type="application/json", delivery_mode=2)
            channel.basic_publish(DEAD_LETTER_EXCHANGE, DEAD_LETTER_ROUTING_KEY, b'[["x"], {}, {}]', properties)
    finally:
        connection.close()


def drain_ids(url: str) -> list[str]:
    """The task ids of every message in the sync queue, taken off it."""
    seen: list[str] = []
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1000)
        for method, properties, _body in channel.consume(SYNC_QUEUE, auto_ack=True, inactivity_timeout=5):
            if method is None:
                break
            seen.append(properties.headers["id"])
        channel.cancel()
    finally:
        connection.close()
    return seen


def peak_memory(action) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_huge_dead_letter_queue_is_shown_in_a_window_and_replayed_in_chunks(broker, celery_app, admin_client):
    ids = [new_task_id() for _ in range(MANY)]
    fill(broker.url, ids)
    wait_until(lambda: broker.depth(DEAD_LETTER_QUEUE) == MANY, timeout=120, what=f"{MANY} dead letters")

    # Looking: a bounded window and the total, whatever --limit asks for.
    out = StringIO()
    _, peak = peak_memory(lambda: call_command("dead_letters", "list", "--limit", str(MANY), stdout=out))
    assert peak < MEMORY_BOUND, f"listing held {peak / 2**20:.1f} MiB"
    assert out.getvalue().startswith(f"{MANY} message(s)")
    assert out.getvalue().count("task=catalog.sync_products") == dead_letters.BROWSE_MAX
    page = admin_client.get("/admin/dead-letters/").content.decode()
    assert f"<strong>{MANY}</strong> messages in the queue (showing the first {dead_letters.BROWSE_LIMIT})" in page

    # Replay all from the web: one bounded chunk per request, well within the web timeout.
    started = time.monotonic()
    response, peak = peak_memory(
        lambda: admin_client.post("/admin/dead-letters/", {"action": "replay_all"}, follow=True)
    )
    elapsed = time.monotonic() - started
    html = response.content.decode()
    replayed = int(re.search(r"Replayed (\d+) messages", html).group(1))
    assert elapsed < WEB_TIMEOUT, f"the request took {elapsed:.1f}s"
    assert 0 < replayed < MANY
    assert f"{MANY - replayed} still in the dead-letter queue" in html
    assert peak < MEMORY_BOUND, f"the request held {peak / 2**20:.1f} MiB"
    assert broker.depth(DEAD_LETTER_QUEUE) == MANY - replayed

    # The command replays the rest, chunk after chunk.
    out = StringIO()
    call_command("dead_letters", "replay", "--all", stdout=out)
    assert f"replayed {MANY - replayed} message(s)" in out.getvalue()
    assert broker.depth(DEAD_LETTER_QUEUE) == 0

    # Every one in the sync queue, once.
    seen = drain_ids(broker.url)
    assert len(seen) == MANY
    assert set(seen) == set(ids)
