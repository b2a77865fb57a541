"""The worker's JSON decoding gives what kombu's gives, by orjson where that cannot differ."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from celery import Celery
from kombu import Queue, serialization
from kombu.exceptions import DecodeError
from kombu.utils import json as kombu_json

from catalog import json_codec
from testkit.broker import Vhost
from testkit.events import envelope_of, wire_event

SAMPLES = [
    json.dumps([[envelope_of(wire_event(product_id=7))], {}, {}]),
    # Objects kombu's hook turns into Python values: the marker sends them to kombu.
    kombu_json.dumps({"at": datetime(2026, 12, 4, 10, 0, tzinfo=UTC), "price": Decimal("12.50")}),
    # The marker spelled with an escape: kombu's hook still sees it.
    '{"\\u005f_type__": "datetime", "__value__": "2026-12-04T10:00:00+00:00"}',
    # What orjson refuses and Python's json takes.
    '{"x": NaN, "y": Infinity}',
    '{"big": 123456789012345678901234567890, "low": -9223372036854775809, "top": 18446744073709551616}',
    '{"x": 1e400, "y": [1.5, -0.0, 0.1e-400]}',
    # Text with escapes, non-ASCII and a repeated key (the last one wins in both).
    '{"t": "line\\nnext \\"quoted\\" caf\\u00e9 \u00e9t\u00e9", "k": 1, "k": 2}',
]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_decoding_gives_what_kombu_gives(text: str, as_bytes: bool) -> None:
    data = text.encode() if as_bytes else text

    assert same(json_codec.loads(data), kombu_json.loads(data))


def refuse_kombus_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: object) -> None:
        raise AssertionError("kombu's decoder was used")

    monkeypatch.setattr(json_codec.kombu_json, "loads", refuse)


def test_a_plain_message_is_decoded_without_kombus_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_kombus_decoder(monkeypatch)

    assert json_codec.loads(SAMPLES[0].encode())[0][0]["events"][0]["product_id"] == 7


@pytest.mark.timeout(60)
def test_a_message_as_the_broker_client_delivers_it_is_decoded_without_kombus_decoder(
    broker: Vhost, celery_app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the real broker and the worker's own client: py-amqp hands a utf-8 body over as text.
    queue = Queue("json-codec-test", routing_key="json-codec-test", exclusive=True, auto_delete=True)
    refuse_kombus_decoder(monkeypatch)
    with celery_app.connection_for_write() as connection, connection.SimpleQueue(queue) as simple:
        simple.put(SAMPLES[0].encode(), serializer=None, content_type="application/json", content_encoding="utf-8")
        message = simple.get(timeout=10)  # kombu's consumer decodes the body as it receives it
        message.ack()

    assert isinstance(message.body, str)
    assert message.decode()[0][0]["events"][0]["product_id"] == 7


def test_the_worker_decodes_json_messages_with_it_and_bad_json_is_still_a_decode_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The settings' package loads the Celery app, which installs the decoder, as in the worker.
    assert serialization.loads(SAMPLES[0].encode(), "application/json", "utf-8")[0][0]["events"][0]["product_id"] == 7
    with pytest.raises(DecodeError):
        serialization.loads(b'{"a": ', "application/json", "utf-8")
    with pytest.raises(DecodeError):
        serialization.loads(b'{"a": "\xff"}', "application/json", "utf-8")
    refuse_kombus_decoder(monkeypatch)
    assert serialization.loads(b'{"a": [1, 2]}', "application/json", "utf-8") == {"a": [1, 2]}


def test_a_statement_parameter_is_the_json_text_of_its_values() -> None:
    value = [{"sku": "caf\u00e9", "price": "12.50", "n": 3, "ok": True, "none": None}]

    assert json.loads(json_codec.dumps_text(value)) == value
