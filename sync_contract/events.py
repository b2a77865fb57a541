"""The product event schema (version 1) and its validation.

Wire format, one Celery task argument (JSON):

    {"schema_version": 1,
     "events": [{"event_id": "<uuid>", "product_id": 7, "version": 3,
                 "op": "upsert" | "delete", "occurred_at": "<ISO 8601 with zone>",
                 "data": {"sku": "...", "title": "...", "description": "...",
                          "price": "12.50", "image_url": "...", "is_active": true}}]}

A single edit travels as a list of one; the relay batches up to MAX_BATCH events
per message when there is a backlog. Prices travel as decimal strings so no
float rounding happens on the way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

SCHEMA_VERSION = 1
# Events per message, at most. A worker refuses (dead-letters) a bigger batch: raise it only
# once every worker runs the new contract (docs/decisions/0005-batch-size-and-linger.md).
MAX_BATCH = 1000
OPS = ("upsert", "delete")

SKU_MAX = 64
TITLE_MAX = 200
IMAGE_URL_MAX = 500
DESCRIPTION_MAX = 10_000
PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 2
# A price in its usual form, valid as it is (up to 10 whole digits, up to 2 decimals, not
# negative): the quick checks of the worker and of the admin's import accept it outright.
PLAIN_PRICE = re.compile(
    rf"[0-9]{{1,{PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES}}}(?:\.[0-9]{{1,{PRICE_DECIMAL_PLACES}}})?"
)
_INT64_MAX = 2**63 - 1


class InvalidPayload(ValueError):
    """The message can never be applied: it goes to the dead-letter queue, not retried."""


class ProductEvent(NamedTuple):
    """One validated event. A named tuple: immutable, and built in a fifth of the time of a
    frozen dataclass (a message carries up to MAX_BATCH of them)."""

    event_id: str
    product_id: int
    version: int
    op: str
    occurred_at: datetime
    sku: str
    title: str
    description: str
    price: Decimal
    image_url: str
    is_active: bool


def encode_envelope(wire_events: Sequence[str]) -> str:
    """The JSON text of an envelope of events that are JSON texts already.

    For a sender that holds each event encoded already (the relay: PostgreSQL builds
    it), so the events are not decoded only to be encoded again
    (docs/decisions/0006-relay-sends-postgres-json.md).
    """
    if not 1 <= len(wire_events) <= MAX_BATCH:
        raise InvalidPayload(f"a message carries 1..{MAX_BATCH} events, not {len(wire_events)}")
    return f'{{"schema_version": {SCHEMA_VERSION}, "events": [{", ".join(wire_events)}]}}'


def validate_envelope(payload: Any) -> list[ProductEvent]:
    """Parse and check a whole message; raise InvalidPayload naming the first fault.

    All or nothing: one bad event rejects the message, so it is never half-applied.
    """
    if not isinstance(payload, dict):
        raise InvalidPayload(f"payload must be an object, not {type(payload).__name__}")
    version = payload.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # not `true`, not 1.0
        raise InvalidPayload(f"unsupported schema_version {version!r} (expected {SCHEMA_VERSION})")
    events = payload.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
        raise InvalidPayload(f"events must be a list of 1..{MAX_BATCH} items")
    return [_parse_event(index, raw) for index, raw in enumerate(events)]


def _parse_event(index: int, raw: Any) -> ProductEvent:
    """The event, checked by the quick test of each field; anything that fails one is
    checked again field by field (``_check_event``), which names the fault."""
    if type(raw) is dict:
        data = raw.get("data")
        if type(data) is dict:
            event_id, product_id, version = raw.get("event_id"), raw.get("product_id"), raw.get("version")
            op, occurred_at = raw.get("op"), raw.get("occurred_at")
            sku: Any = data.get("sku")
            title: Any = data.get("title")
            price = data.get("price")
            description, image_url = data.get("description", ""), data.get("image_url", "")
            is_active = data.get("is_active")
            if (
                type(event_id) is str
                and _CANONICAL_UUID.fullmatch(event_id)
                and type(product_id) is int
                and 1 <= product_id <= _INT64_MAX
                and type(version) is int
                and 1 <= version <= _INT64_MAX
                and op in OPS
                and type(occurred_at) is str
                and _plain_text(sku, SKU_MAX)
                and sku.strip()
                and _plain_text(title, TITLE_MAX)
                and title.strip()
                and _plain_text(description, DESCRIPTION_MAX)
                and _plain_text(image_url, IMAGE_URL_MAX)
                and type(price) is str
                and PLAIN_PRICE.fullmatch(price)
                and type(is_active) is bool
            ):
                try:
                    at = datetime.fromisoformat(occurred_at)
                except ValueError:
                    at = None
                if at is not None and at.tzinfo is not None:
                    return ProductEvent(
                        event_id,
                        product_id,
                        version,
                        op,
                        at,
                        sku,
                        title,
                        description,
                        Decimal(price),
                        image_url,
                        is_active,
                    )
    return _check_event(index, raw)


def _plain_text(value: Any, max_length: int) -> bool:
    return type(value) is str and len(value) <= max_length and "\x00" not in value


def _check_event(index: int, raw: Any) -> ProductEvent:
    # Field names are passed as (index, name) and turned into "events[3].data.price" only
    # when a check fails: a batch of 500 valid events builds no message string at all.
    if not isinstance(raw, dict):
        raise InvalidPayload(f"events[{index}] must be an object")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise InvalidPayload(f"events[{index}].data must be an object")
    op = raw.get("op")
    if op not in OPS:
        raise InvalidPayload(f"events[{index}].op must be one of {OPS}, not {op!r}")
    return ProductEvent(
        event_id=_uuid(raw.get("event_id"), index, "event_id"),
        product_id=_positive_int(raw.get("product_id"), index, "product_id"),
        version=_positive_int(raw.get("version"), index, "version"),
        op=op,
        occurred_at=_aware_datetime(raw.get("occurred_at"), index, "occurred_at"),
        sku=_text(data.get("sku"), index, "data.sku", SKU_MAX, required=True),
        title=_text(data.get("title"), index, "data.title", TITLE_MAX, required=True),
        description=_text(data.get("description", ""), index, "data.description", DESCRIPTION_MAX),
        price=_price(data.get("price"), index, "data.price"),
        image_url=_text(data.get("image_url", ""), index, "data.image_url", IMAGE_URL_MAX),
        is_active=_bool(data.get("is_active"), index, "data.is_active"),
    )


def _invalid(index: int, field: str, problem: str) -> InvalidPayload:
    return InvalidPayload(f"events[{index}].{field} {problem}")


# The form str(uuid.UUID(...)) gives, taken as it is (a match is cheaper than parsing);
# anything else (upper case, braces, no hyphens) is parsed by uuid.UUID and normalised to it.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value: Any, index: int, field: str) -> str:
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise _invalid(index, field, f"must be a UUID string, not {value!r}") from None


def _positive_int(value: Any, index: int, field: str) -> int:
    # bool is an int in Python; a JSON true is not a product id.
    if type(value) is not int or not 1 <= value <= _INT64_MAX:
        raise _invalid(index, field, f"must be a positive 64-bit integer, not {value!r}")
    return value


def _aware_datetime(value: Any, index: int, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _invalid(index, field, f"must be an ISO 8601 timestamp, not {value!r}") from None
    if parsed.tzinfo is None:
        raise _invalid(index, field, "must carry a time zone")
    return parsed


def _text(value: Any, index: int, field: str, max_length: int, *, required: bool = False) -> str:
    if type(value) is not str:
        raise _invalid(index, field, f"must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise _invalid(index, field, "must not be blank")
    if len(value) > max_length:
        raise _invalid(index, field, f"is longer than {max_length} characters")
    if "\x00" in value:
        raise _invalid(index, field, "contains a NUL character")
    return value


def _bool(value: Any, index: int, field: str) -> bool:
    if type(value) is not bool:
        raise _invalid(index, field, f"must be true or false, not {value!r}")
    return value


def _price(value: Any, index: int, field: str) -> Decimal:
    # A string only: a JSON float has already lost the exact cents.
    if type(value) is not str:
        raise _invalid(index, field, f'must be a decimal string such as "12.50", not {value!r}')
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise _invalid(index, field, f"is not a decimal number: {value!r}") from None
    _sign, digits, exponent = price.as_tuple()
    # The exponent of NaN and infinity is a letter ('n', 'N', 'F'), of a finite number an int.
    if not isinstance(exponent, int) or price < 0:
        raise _invalid(index, field, f"must be a finite number >= 0, not {value!r}")
    places = -exponent if exponent < 0 else 0
    # Digits before the point, counting a positive exponent: "1E+10" has 11, not 1.
    whole_digits = len(digits) + exponent if price else 0
    if places > PRICE_DECIMAL_PLACES or whole_digits > PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES:
        raise _invalid(
            index,
            field,
            f"must have at most {PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES} digits "
            f"before and {PRICE_DECIMAL_PLACES} after the point, not {value!r}",
        )
    return price
