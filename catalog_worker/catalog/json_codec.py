"""The worker's JSON: kombu's decoder made fast for the messages it receives.

Celery decodes every message body twice in a prefork worker (the main process checks
the payload's shape, the pool child decodes it again to run the task), and kombu's
decoder runs a Python hook on every object. ``loads`` gives the same result faster:
orjson for a body that holds no ``__type__`` marker (the only objects kombu's hook
changes), no ``\\u`` escape (which could spell one) and no run of 19 digits (orjson reads
an integer beyond 64 bits as a float); kombu's own decoder for anything else and for
whatever orjson refuses (NaN, a lone surrogate), so results and errors stay kombu's
(docs/decisions/0031-worker-json.md). The broker's client hands a body over as text
(py-amqp decodes a utf-8 body), so text is checked as its UTF-8 bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
from kombu.serialization import register
from kombu.utils import json as kombu_json

# Digits to "0": a run of 19 zeros in the translated text is a number orjson could turn into a float.
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """kombu's JSON decoding of a message body, by orjson when that cannot differ."""
    try:
        raw = data.encode() if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:  # a lone surrogate: kombu's decoder says what it makes of it
        return kombu_json.loads(data)
    if (
        b"__type__" not in raw
        and (b"\\" not in raw or b"\\u" not in raw)  # a backslash is rare: look for the escape only then
        and _LONG_NUMBER not in raw.translate(_DIGITS)
    ):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return kombu_json.loads(data)


def install() -> None:
    """Decode ``application/json`` with ``loads`` in this process; encoding stays kombu's."""
    register("json", kombu_json.dumps, loads, content_type="application/json", content_encoding="utf-8")


def dumps_text(value: Any) -> str:
    """JSON text of plain values (str, int, bool, None, lists, dicts), as ``json.dumps``
    would give it up to white space: a statement parameter."""
    return orjson.dumps(value).decode()
