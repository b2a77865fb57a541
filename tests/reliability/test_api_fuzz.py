"""Fuzzing the admin API by hand (the idea of schemathesis, without an OpenAPI schema:
DRF serves one only with extra packages). A seeded generator builds JSON bodies over
the product fields (very long strings, unicode, NUL, huge and odd numbers, wrong
types, nulls, nested objects, extra fields, non-object bodies) and sends them to a
real admin-web process with a staff session. Expected: never a 5xx; every 4xx is
JSON naming what is wrong; every 2xx left a valid product.
"""

import json
import os
import random

import pytest
import requests

from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

CASES = int(os.environ.get("RELIABILITY_FUZZ_CASES", "150"))
FIELDS = ("sku", "title", "description", "price", "image_url", "is_active")

STRINGS = [
    "",
    " ",
    "a",
    "x" * 65,
    "x" * 201,
    "y" * 10_001,
    "z" * 100_000,
    "名前🙂\u202e",
    "\x00nul",
    "\ud7ff",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "http://example.com/" + "p" * 600,
    "javascript:alert(1)",
    "\n\t",
    "ß" * 64,
]
NUMBERS = [
    0,
    -1,
    1,
    1.5,
    1.005,
    -0.0,
    10**12,
    10**40,
    2**63,
    -(2**63),
    1e308,
    "1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e10",
    "12.345",
    "99999999999.99",
    "0.001",
    "1,5",
    "١٢",
]
OTHERS = [None, True, False, [], [1, 2], {}, {"nested": {"deep": [1, {"x": None}]}}, "true", "null"]


def value(rnd: random.Random):
    pool = rnd.choice((STRINGS, NUMBERS, OTHERS))
    return rnd.choice(pool)


def body(rnd: random.Random):
    roll = rnd.random()
    if roll < 0.05:
        return rnd.choice([[], [{"sku": "x"}], "text", 42, None, True])
    data = {"sku": f"F-{rnd.randrange(10**9)}", "title": "fuzz", "price": "1.00"}
    for field in rnd.sample(FIELDS, rnd.randint(1, len(FIELDS))):
        data[field] = value(rnd)
    if rnd.random() < 0.2:
        data[rnd.choice(["id", "version", "sync_state", "extra", "__proto__", "sku\x00"])] = value(rnd)
    if rnd.random() < 0.1:
        del data[rnd.choice(list(data))]
    return data


def check(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if 400 <= response.status_code < 500:
        assert response.headers.get("Content-Type", "").startswith("application/json"), what
        payload = response.json()
        assert payload, f"{what}: empty error body"
        if response.status_code == 400 and isinstance(payload, dict):
            # Each key is a field (or non_field_errors/detail) with a message.
            assert all(isinstance(v, list | str | dict) and v for v in payload.values()), payload


def test_fuzzed_bodies_never_get_a_5xx_and_every_4xx_says_why(reliability_stack):
    stack = reliability_stack()
    stack.start("admin-web")
    url = stack.url("admin", "/api/products/")
    wait_until(lambda: requests.get(url, timeout=3).status_code in (401, 403), timeout=90, what="admin API up")
    api = stack.admin_api()
    existing = api.post(url, json={"sku": "FUZZ-BASE", "title": "base", "price": "1.00"}, timeout=10)
    assert existing.status_code == 201, existing.text
    item = stack.url("admin", f"/api/products/{existing.json()['id']}/")

    rnd = random.Random(int(os.environ.get("RELIABILITY_FUZZ_SEED", "20261129")))
    statuses: dict[int, int] = {}
    for index in range(CASES):
        data = body(rnd)
        method, target = rnd.choice((("post", url), ("post", url), ("patch", item), ("put", item)))
        response = getattr(api, method)(
            target, data=json.dumps(data), timeout=30, headers={"Content-Type": "application/json"}
        )
        check(response, f"case {index}: {method} {json.dumps(data)[:200]}")
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    # Bodies that are not JSON at all, and odd URLs.
    raw_bodies = (
        (b"{not json", "application/json"),
        (b"sku=a&title=b", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
        (b"", "application/json"),
    )
    for raw, content_type in raw_bodies:
        check(api.post(url, data=raw, headers={"Content-Type": content_type}, timeout=10), f"raw {raw!r}")
    for path in (
        "?page=abc",
        "?page=999999",
        "?sync_state=nope",
        "?page_size=-1",
        "999999999999999999999999/",
        "abc/",
        "%00/",
        "1/../2/",
    ):
        check(api.get(url + path, timeout=10), path)
    print("status counts:", dict(sorted(statuses.items())))

    # Whatever was accepted is a valid product, and every change went through the outbox.
    for pid, (_version, sku, title, price, _active) in stack.admin_state().items():
        assert sku.strip(), pid
        assert title.strip(), pid
        assert len(sku) <= 64, pid
        assert len(title) <= 200, pid
        assert float(price) >= 0, pid
        assert "\x00" not in sku + title
    events = stack.q("admin", "SELECT count(*) FROM products_outboxevent")[0][0]
    assert events == sum(version for version, *_ in stack.admin_state().values())
