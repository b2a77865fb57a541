"""Helpers of the operations system tests (staff-facing views, dead letters, start-up checks)."""

from __future__ import annotations

import json
import uuid

import pika
import requests

from sync_contract import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_ROUTING_KEY,
    SYNC_EXCHANGE,
    SYNC_ROUTING_KEY,
    TASK_SYNC_PRODUCTS,
)
from tests.system.harness import STAFF_PASSWORD, STAFF_USER, Stack, wait_until

SERVICES = ("catalog-worker", "admin-relay", "admin-web", "catalog-web")


def wait_http(url: str, *, status: int | tuple[int, ...] = 200, timeout: float = 90) -> None:
    expected = (status,) if isinstance(status, int) else status
    wait_until(
        lambda: requests.get(url, timeout=3, allow_redirects=False).status_code in expected,
        timeout=timeout,
        interval=0.2,
        what=f"{url} answers {expected}",
    )


def start_services(stack: Stack, *names: str, env: dict[str, str] | None = None) -> None:
    for name in names or SERVICES:
        stack.start(name, env=env)
    if "admin-web" in (names or SERVICES):
        wait_http(stack.url("admin", "/admin/login/"))
    if "catalog-web" in (names or SERVICES):
        wait_http(stack.url("catalog", "/api/products/"))


def staff_auth() -> tuple[str, str]:
    return STAFF_USER, STAFF_PASSWORD


def admin_products(api: requests.Session, stack: Stack) -> dict[int, dict]:
    body = api.get(stack.url("admin", "/api/products/"), timeout=10).json()
    return {p["id"]: p for p in body["results"]}


def wrap_task(envelope) -> bytes:
    """A Celery protocol-2 body carrying one argument."""
    return json.dumps([[envelope], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()


def publish_task(
    stack: Stack, body: bytes, *, content_type: str = "application/json", dead_letter: bool = False
) -> str:
    """Publish a catalog.sync_products message by hand: to the sync queue, or straight into the
    dead-letter queue as if the quorum queue had dead-lettered it at its delivery limit."""
    task_id = str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": TASK_SYNC_PRODUCTS,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "origin": "system-test",
    }
    exchange, key = SYNC_EXCHANGE, SYNC_ROUTING_KEY
    if dead_letter:
        exchange, key = DEAD_LETTER_EXCHANGE, DEAD_LETTER_ROUTING_KEY
        headers.update(
            {
                "x-first-death-reason": "delivery_limit",
                "x-first-death-queue": "catalog.product_sync",
                "x-death": [{"count": 1, "reason": "delivery_limit", "queue": "catalog.product_sync"}],
            }
        )
    connection, channel = stack.broker.channel(stack.vhost)
    try:
        channel.confirm_delivery()
        channel.basic_publish(
            exchange,
            key,
            body,
            pika.BasicProperties(
                content_type=content_type,
                content_encoding="utf-8",
                headers=headers,
                correlation_id=task_id,
                delivery_mode=2,
            ),
        )
    finally:
        connection.close()
    return task_id


def valid_envelope(product_id: int, version: int = 1, sku: str = "REPLAYED") -> dict:
    return {
        "schema_version": 1,
        "events": [
            {
                "event_id": str(uuid.uuid4()),
                "product_id": product_id,
                "version": version,
                "op": "upsert",
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "data": {
                    "sku": sku,
                    "title": "replayed",
                    "description": "",
                    "price": "3.00",
                    "image_url": "",
                    "is_active": True,
                },
            }
        ],
    }
