"""The event schema and its validation (sync_contract.events)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sync_contract import MAX_BATCH, SCHEMA_VERSION, InvalidPayload, ProductEvent, encode_envelope, validate_envelope
from sync_contract import events as events_module
from sync_contract.events import DESCRIPTION_MAX, IMAGE_URL_MAX, SKU_MAX, TITLE_MAX
from testkit.events import envelope_of, product_event, wire_event

Mutator = Callable[[dict[str, Any]], None]


def over_the_wire(envelope: dict[str, Any]) -> dict[str, Any]:
    """What the worker receives: the envelope after a JSON round trip."""
    return json.loads(json.dumps(envelope))


def set_env(key: str, value: Any) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope[key] = value

    return mutate


def del_env(key: str) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        del envelope[key]

    return mutate


def set_event(key: str, value: Any) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope["events"][0][key] = value

    return mutate


def del_event(key: str) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        del envelope["events"][0][key]

    return mutate


def set_data(key: str, value: Any) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope["events"][0]["data"][key] = value

    return mutate


def del_data(key: str) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        del envelope["events"][0]["data"][key]

    return mutate


def replace_events(value: Any) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope["events"] = copy.deepcopy(value)

    return mutate


def repeat_events(count: int) -> Mutator:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope["events"] = [copy.deepcopy(envelope["events"][0]) for _ in range(count)]

    return mutate


EV = re.escape("events[0]")
DATA = re.escape("events[0].data")

BAD_ENVELOPES = [
    pytest.param(set_env("schema_version", 2), "schema_version", id="schema-version-2"),
    pytest.param(set_env("schema_version", "1"), "schema_version", id="schema-version-string"),
    pytest.param(set_env("schema_version", None), "schema_version", id="schema-version-null"),
    pytest.param(del_env("schema_version"), "schema_version", id="schema-version-missing"),
    pytest.param(replace_events([]), "events", id="batch-empty"),
    pytest.param(repeat_events(MAX_BATCH + 1), "events", id="batch-oversize"),
    pytest.param(replace_events({"0": {}}), "events", id="events-not-a-list"),
    pytest.param(del_env("events"), "events", id="events-missing"),
]
BAD_EVENTS = [
    pytest.param(replace_events(["upsert"]), EV, id="event-is-a-string"),
    pytest.param(replace_events([None]), EV, id="event-is-null"),
    pytest.param(replace_events([[1, 2]]), EV, id="event-is-a-list"),
    pytest.param(set_event("data", "sku=x"), f"{DATA}", id="data-not-object"),
    pytest.param(del_event("data"), f"{DATA}", id="data-missing"),
    pytest.param(set_event("op", "update"), f"{EV}\\.op", id="op-unknown"),
    pytest.param(set_event("op", "UPSERT"), f"{EV}\\.op", id="op-wrong-case"),
    pytest.param(del_event("op"), f"{EV}\\.op", id="op-missing"),
    pytest.param(set_event("event_id", "not-a-uuid"), f"{EV}\\.event_id", id="event-id-not-uuid"),
    pytest.param(set_event("event_id", 12345), f"{EV}\\.event_id", id="event-id-int"),
    pytest.param(del_event("event_id"), f"{EV}\\.event_id", id="event-id-missing"),
    pytest.param(set_event("product_id", True), f"{EV}\\.product_id", id="product-id-bool"),
    pytest.param(set_event("product_id", "7"), f"{EV}\\.product_id", id="product-id-string"),
    pytest.param(set_event("product_id", 7.0), f"{EV}\\.product_id", id="product-id-float"),
    pytest.param(set_event("product_id", 0), f"{EV}\\.product_id", id="product-id-zero"),
    pytest.param(set_event("product_id", -3), f"{EV}\\.product_id", id="product-id-negative"),
    pytest.param(set_event("product_id", 2**63), f"{EV}\\.product_id", id="product-id-over-64-bit"),
    pytest.param(set_event("version", False), f"{EV}\\.version", id="version-bool"),
    pytest.param(set_event("version", "3"), f"{EV}\\.version", id="version-string"),
    pytest.param(set_event("version", None), f"{EV}\\.version", id="version-null"),
    pytest.param(set_event("occurred_at", "2024-05-17T12:30:15"), f"{EV}\\.occurred_at", id="timestamp-naive"),
    pytest.param(set_event("occurred_at", "2024-05-17"), f"{EV}\\.occurred_at", id="timestamp-date-only"),
    pytest.param(set_event("occurred_at", "yesterday"), f"{EV}\\.occurred_at", id="timestamp-garbage"),
    pytest.param(set_event("occurred_at", 1715949015), f"{EV}\\.occurred_at", id="timestamp-epoch-int"),
    # the product fields
    pytest.param(del_data("sku"), f"{DATA}\\.sku", id="sku-missing"),
    pytest.param(set_data("sku", ""), f"{DATA}\\.sku", id="sku-empty"),
    pytest.param(set_data("sku", "   \t"), f"{DATA}\\.sku", id="sku-blank"),
    pytest.param(set_data("sku", 42), f"{DATA}\\.sku", id="sku-int"),
    pytest.param(set_data("sku", "x" * (SKU_MAX + 1)), f"{DATA}\\.sku", id="sku-too-long"),
    pytest.param(set_data("sku", "AB\x00C"), f"{DATA}\\.sku", id="sku-nul"),
    pytest.param(del_data("title"), f"{DATA}\\.title", id="title-missing"),
    pytest.param(set_data("title", " "), f"{DATA}\\.title", id="title-blank"),
    pytest.param(set_data("title", ["Blue", "mug"]), f"{DATA}\\.title", id="title-list"),
    pytest.param(set_data("title", "t" * (TITLE_MAX + 1)), f"{DATA}\\.title", id="title-too-long"),
    pytest.param(set_data("title", "Blue\x00mug"), f"{DATA}\\.title", id="title-nul"),
    pytest.param(set_data("description", None), f"{DATA}\\.description", id="description-null"),
    pytest.param(set_data("description", "d" * (DESCRIPTION_MAX + 1)), f"{DATA}\\.description", id="description-long"),
    pytest.param(set_data("description", "\x00"), f"{DATA}\\.description", id="description-nul"),
    pytest.param(set_data("image_url", 5), f"{DATA}\\.image_url", id="image-url-int"),
    pytest.param(set_data("image_url", "h" * (IMAGE_URL_MAX + 1)), f"{DATA}\\.image_url", id="image-url-long"),
    pytest.param(set_data("is_active", "true"), f"{DATA}\\.is_active", id="is-active-string"),
    pytest.param(set_data("is_active", 1), f"{DATA}\\.is_active", id="is-active-int"),
    pytest.param(del_data("is_active"), f"{DATA}\\.is_active", id="is-active-missing"),
    pytest.param(del_data("price"), f"{DATA}\\.price", id="price-missing"),
    pytest.param(set_data("price", "-0.01"), f"{DATA}\\.price", id="price-negative"),
    pytest.param(set_data("price", 12.5), f"{DATA}\\.price", id="price-float"),
    pytest.param(set_data("price", 12), f"{DATA}\\.price", id="price-int"),
    pytest.param(set_data("price", "NaN"), f"{DATA}\\.price", id="price-nan"),
    pytest.param(set_data("price", "sNaN"), f"{DATA}\\.price", id="price-snan"),
    pytest.param(set_data("price", "Infinity"), f"{DATA}\\.price", id="price-infinity"),
    pytest.param(set_data("price", "-Infinity"), f"{DATA}\\.price", id="price-minus-infinity"),
    pytest.param(set_data("price", "12.345"), f"{DATA}\\.price", id="price-three-decimals"),
    pytest.param(set_data("price", "0.001"), f"{DATA}\\.price", id="price-tiny-three-decimals"),
    pytest.param(set_data("price", "12345678901"), f"{DATA}\\.price", id="price-eleven-digits"),
    pytest.param(set_data("price", "1E+10"), f"{DATA}\\.price", id="price-exponent-eleven-digits"),
    pytest.param(set_data("price", "1E+400"), f"{DATA}\\.price", id="price-exponent-huge"),
    pytest.param(set_data("price", "twelve"), f"{DATA}\\.price", id="price-not-a-number"),
    pytest.param(set_data("price", ""), f"{DATA}\\.price", id="price-empty"),
]
BAD_ENVELOPES += BAD_EVENTS


VALID_EDGES = [
    pytest.param(set_data("sku", "s" * SKU_MAX), "sku", id="sku-at-max"),
    pytest.param(set_data("title", "t" * TITLE_MAX), "title", id="title-at-max"),
    pytest.param(set_data("description", "d" * DESCRIPTION_MAX), "description", id="description-at-max"),
    pytest.param(set_data("image_url", "h" * IMAGE_URL_MAX), "image_url", id="image-url-at-max"),
    pytest.param(del_data("description"), "description", id="description-defaults-empty"),
    pytest.param(del_data("image_url"), "image_url", id="image-url-defaults-empty"),
    pytest.param(set_data("price", "0"), "price", id="price-zero"),
    pytest.param(set_data("price", "9999999999.99"), "price", id="price-max"),
    pytest.param(set_data("price", "1E+9"), "price", id="price-exponent-ten-digits"),
    pytest.param(set_data("title", "Tasse à café ☕ 咖啡杯"), "title", id="title-unicode"),
    pytest.param(set_event("occurred_at", "2024-05-17T14:30:15+02:00"), None, id="timestamp-offset"),
    pytest.param(set_event("product_id", 2**63 - 1), None, id="product-id-max-64-bit"),
    pytest.param(set_event("op", "delete"), None, id="op-delete"),
]


@pytest.fixture
def event() -> ProductEvent:
    return product_event(price=Decimal("12.50"))


@pytest.fixture
def envelope() -> dict[str, Any]:
    return envelope_of(wire_event())


def test_round_trip_of_a_valid_envelope(event: ProductEvent) -> None:
    envelope = over_the_wire(envelope_of(event))

    assert validate_envelope(envelope) == [event]


def test_round_trip_keeps_the_exact_price_and_order_of_a_batch() -> None:
    events = [
        product_event(product_id=3, version=1, price=Decimal("0.10")),
        product_event(product_id=1, version=9, op="delete", price=Decimal("9999999999.99")),
        product_event(product_id=3, version=2, price=Decimal("0")),
    ]

    parsed = validate_envelope(over_the_wire(envelope_of(*events)))

    assert parsed == events
    assert [str(e.price) for e in parsed] == ["0.10", "9999999999.99", "0"]
    assert all(isinstance(e.price, Decimal) for e in parsed)


def test_wire_format_has_the_documented_shape(event: ProductEvent) -> None:
    envelope = envelope_of(event)

    assert envelope["schema_version"] == SCHEMA_VERSION == 1
    (wire,) = envelope["events"]
    assert set(wire) == {"event_id", "product_id", "version", "op", "occurred_at", "data"}
    assert set(wire["data"]) == {"sku", "title", "description", "price", "image_url", "is_active"}
    assert wire["data"]["price"] == "12.50"
    assert datetime.fromisoformat(wire["occurred_at"]) == event.occurred_at


@pytest.mark.parametrize(
    "given",
    [
        "0b7c1f8e-6a0e-4a8e-9d3e-5a3f2b1c0d9e",
        "0B7C1F8E-6A0E-4A8E-9D3E-5A3F2B1C0D9E",
        "{0b7c1f8e-6a0e-4a8e-9d3e-5a3f2b1c0d9e}",
        "0b7c1f8e6a0e4a8e9d3e5a3f2b1c0d9e",
    ],
)
def test_an_event_id_is_kept_in_its_canonical_form_whatever_form_it_came_in(given: str) -> None:
    (event,) = validate_envelope(envelope_of(wire_event(event_id=given)))

    assert event.event_id == "0b7c1f8e-6a0e-4a8e-9d3e-5a3f2b1c0d9e"


@pytest.mark.parametrize("count", [1, 3, MAX_BATCH])
def test_an_envelope_encoded_from_encoded_events_is_the_envelope_of_those_events(count: int) -> None:
    events = [wire_event(product_id=i + 1) for i in range(count)]

    text = encode_envelope([json.dumps(e) for e in events])

    assert json.loads(text) == envelope_of(*events)
    assert len(validate_envelope(json.loads(text))) == count


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_encode_envelope_refuses_an_empty_or_oversize_batch(count: int) -> None:
    with pytest.raises(InvalidPayload, match=str(MAX_BATCH)):
        encode_envelope([json.dumps(wire_event())] * count)


def test_a_full_batch_is_accepted() -> None:
    events = [wire_event(product_id=i + 1) for i in range(MAX_BATCH)]

    assert len(validate_envelope(over_the_wire(envelope_of(*events)))) == MAX_BATCH


@pytest.mark.parametrize(("mutate", "field"), VALID_EDGES)
def test_edge_values_that_are_valid(envelope: dict[str, Any], mutate: Mutator, field: str | None) -> None:
    mutate(envelope)

    (event,) = validate_envelope(over_the_wire(envelope))

    if field is not None:
        expected = envelope["events"][0]["data"].get(field, "")
        actual = getattr(event, field)
        assert (str(actual) if field == "price" else actual) == expected


def test_timestamp_keeps_its_zone(envelope: dict[str, Any]) -> None:
    set_event("occurred_at", "2024-05-17T14:30:15+02:00")(envelope)

    (event,) = validate_envelope(envelope)

    assert event.occurred_at.utcoffset() == timedelta(hours=2)
    assert event.occurred_at == datetime(2024, 5, 17, 12, 30, 15, tzinfo=UTC)
    assert event.occurred_at.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(("mutate", "field"), BAD_ENVELOPES)
def test_invalid_envelope_is_rejected_naming_the_field(envelope: dict[str, Any], mutate: Mutator, field: str) -> None:
    mutate(envelope)

    with pytest.raises(InvalidPayload, match=field):
        validate_envelope(envelope)


@pytest.mark.parametrize("payload", [None, [], "{}", 1, b"{}"], ids=["null", "list", "string", "int", "bytes"])
def test_a_payload_that_is_not_an_object_is_rejected(payload: Any) -> None:
    with pytest.raises(InvalidPayload, match="payload must be an object"):
        validate_envelope(payload)


def test_the_fault_is_located_in_the_right_event_of_a_batch() -> None:
    events = [wire_event(product_id=1), wire_event(product_id=2), wire_event(product_id=3)]
    events[2]["data"]["price"] = "-5"

    with pytest.raises(InvalidPayload, match=re.escape("events[2].data.price")):
        validate_envelope(envelope_of(*events))


def test_invalid_payload_is_a_value_error() -> None:
    # The worker's retry policy relies on this: a ValueError is not transient.
    assert issubclass(InvalidPayload, ValueError)


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_the_sender_and_the_receiver_refuse_the_same_batch_sizes(count: int) -> None:
    events = [wire_event(product_id=i + 1) for i in range(count)]

    with pytest.raises(InvalidPayload, match=str(MAX_BATCH)):
        encode_envelope([json.dumps(e) for e in events])
    with pytest.raises(InvalidPayload, match="events must be a list"):
        validate_envelope(over_the_wire(envelope_of(*events)))


def test_product_event_is_immutable(event: ProductEvent) -> None:
    with pytest.raises(AttributeError):
        event.version = 99  # type: ignore[misc]


# Price forms the quick check leaves to the field-by-field one, which accepts or names them.
OTHER_PRICES = [
    pytest.param(set_data("price", given), None, id=f"price-{given!r}")
    for given in ["12.5", "012.50", "1e2", " 12", "12.", ".5", "+1", "\u0663", "00000000001.25", "-0"]
]


def outcome(check: Callable[[int, Any], ProductEvent], raw: Any) -> ProductEvent | str:
    try:
        return check(0, raw)
    except InvalidPayload as exc:
        return str(exc)


@pytest.mark.parametrize(("mutate", "field"), BAD_EVENTS + VALID_EDGES + OTHER_PRICES)
def test_the_quick_check_of_an_event_agrees_with_the_field_by_field_one(
    envelope: dict[str, Any], mutate: Mutator, field: str | None
) -> None:
    mutate(envelope)
    (raw,) = over_the_wire(envelope)["events"]

    assert outcome(events_module._parse_event, raw) == outcome(events_module._check_event, raw)
