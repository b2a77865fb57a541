"""product_import: the bulk write path gives the same outcome as one service call per row."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from products import services, validation
from products.models import OutboxEvent, Product
from products.services import ImportRejected, ImportResult, product_create, product_import

pytestmark = pytest.mark.django_db


def test_import_creates_products_at_version_one_with_one_event_each():
    result = product_import(rows=[{"sku": f"I-{i}", "title": f"T{i}", "price": "1.50"} for i in range(5)])

    assert (result.created, result.updated) == (5, 0)
    products = {p.sku: p for p in Product.objects.all()}
    assert set(products) == {f"I-{i}" for i in range(5)}
    assert {p.version for p in products.values()} == {1}
    events = list(OutboxEvent.objects.order_by("product_id"))
    assert [(e.product_id, e.version, e.op) for e in events] == sorted((p.pk, 1, "upsert") for p in products.values())
    assert events[0].data == {
        "sku": "I-0",
        "title": "T0",
        "description": "",
        "price": "1.50",
        "image_url": "",
        "is_active": True,
    }
    assert all(e.published_at is None and e.attempts == 0 for e in events)


def test_import_updates_existing_skus_with_version_plus_one():
    existing = product_create(data={"sku": "KEEP", "title": "old", "price": "1.00"})

    result = product_import(
        rows=[{"sku": "KEEP", "title": "new", "price": "2.25"}, {"sku": "NEW", "title": "n", "price": "0"}]
    )

    assert (result.created, result.updated) == (1, 1)
    existing.refresh_from_db()
    assert (existing.version, existing.title, existing.price) == (2, "new", Decimal("2.25"))
    event = OutboxEvent.objects.get(product_id=existing.pk, version=2)
    assert event.data["title"] == "new"
    assert event.data["price"] == "2.25"
    assert OutboxEvent.objects.count() == 3  # create of KEEP, its update, create of NEW


@pytest.mark.parametrize(
    "bad_row",
    [
        {"sku": "B", "title": "t", "price": "-1"},
        {"sku": "B", "title": "", "price": "1"},
        {"sku": "B", "title": "t", "price": "1", "image_url": "not a url"},
    ],
)
def test_one_bad_row_rejects_the_whole_import(bad_row):
    with pytest.raises(ImportRejected) as info:
        product_import(rows=[{"sku": "A", "title": "fine", "price": "1"}, bad_row])

    assert [e.line for e in info.value.row_errors] == [2]
    assert Product.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


def test_duplicate_skus_in_one_import_are_refused():
    with pytest.raises(ImportRejected) as info:
        product_import(rows=[{"sku": "D", "title": "a", "price": "1"}, {"sku": "D", "title": "b", "price": "1"}])
    assert [(e.line, e.field) for e in info.value.row_errors] == [(2, "sku")]
    assert OutboxEvent.objects.count() == 0


@pytest.mark.parametrize("size", [3, 7])  # one batch (a json batch), several (the spool)
def test_identical_rows_are_left_alone_and_changed_ones_get_one_version_each(monkeypatch, size):
    monkeypatch.setattr(services, "IMPORT_BATCH", 2 if size == 7 else 100)
    rows = [{"sku": f"U-{i}", "title": f"T{i}", "price": "1.50"} for i in range(size)]
    assert product_import(rows=rows) == ImportResult(created=size, updated=0, unchanged=0)
    events = OutboxEvent.objects.count()

    rows[1] = {**rows[1], "price": "2"}
    rows[2] = {**rows[2], "is_active": False}
    again = product_import(rows=[*rows, {"sku": "U-new", "title": "n", "price": "1.5"}])

    assert again == ImportResult(created=1, updated=2, unchanged=size - 2)
    assert OutboxEvent.objects.count() == events + 3
    versions = dict(Product.objects.values_list("sku", "version"))
    assert (versions["U-0"], versions["U-1"], versions["U-2"], versions["U-new"]) == (1, 2, 2, 1)
    assert product_import(rows=rows) == ImportResult(created=0, updated=0, unchanged=size)  # "1.50" == 1.5
    assert OutboxEvent.objects.count() == events + 3


def test_errors_of_a_spooled_import_are_all_counted_and_nothing_is_written(monkeypatch):
    monkeypatch.setattr(services, "IMPORT_BATCH", 3)
    monkeypatch.setattr(services, "MAX_IMPORT_ERRORS", 4)
    rows = [{"sku": f"E-{i}", "title": "t", "price": "-1" if i % 2 else "1"} for i in range(20)]

    with pytest.raises(ImportRejected) as info:
        product_import(rows=rows)

    assert info.value.count == 10
    assert [(e.line, e.field) for e in info.value.row_errors] == [
        (2, "price"),
        (4, "price"),
        (6, "price"),
        (8, "price"),
    ]
    assert Product.objects.count() == OutboxEvent.objects.count() == 0


def test_duplicates_across_spooled_batches_name_both_lines(monkeypatch):
    monkeypatch.setattr(services, "IMPORT_BATCH", 2)
    rows = [{"sku": s, "title": "t", "price": "1"} for s in ("A", "B", "C", "A", "D", "A")]

    with pytest.raises(ImportRejected) as info:
        product_import(rows=rows)

    assert info.value.count == 2
    assert [(e.line, e.field) for e in info.value.row_errors] == [(4, "sku"), (6, "sku")]
    assert "already on line 1" in info.value.row_errors[0].message
    assert Product.objects.count() == 0


def test_a_spooled_import_stores_every_character_and_empty_text_as_given(monkeypatch):
    monkeypatch.setattr(services, "IMPORT_BATCH", 2)  # spooled: the rows travel through COPY
    texts = ['He said "hi", then\nleft', "", "\\N", "Ünïcødé ✓, tab\there", "back\\slash", "  spaced  "]
    texts += ["\\u0000 as text", "bell\x07 and \u2028 separator", "emoji \U0001f600"]
    rows = [{"sku": f"S-{i}", "title": "t", "description": text, "price": "7.5"} for i, text in enumerate(texts)]

    assert product_import(rows=rows) == ImportResult(created=len(texts), updated=0)

    stored = dict(Product.objects.values_list("sku", "description"))
    assert stored == {f"S-{i}": text for i, text in enumerate(texts)}
    assert set(Product.objects.values_list("price", flat=True)) == {Decimal("7.50")}


@pytest.mark.parametrize("batch", [100, 2])  # one json batch, the spool
def test_a_lone_surrogate_is_a_row_error_and_nothing_is_written(monkeypatch, batch):
    # What json.loads makes of a "\\ud800" escape in a JSON Lines file: text UTF-8 cannot encode.
    monkeypatch.setattr(services, "IMPORT_BATCH", batch)
    rows = [{"sku": f"U-{i}", "title": "t", "price": "1"} for i in range(5)]
    rows[3]["title"] = "bad \ud800 title"

    with pytest.raises(ImportRejected) as info:
        product_import(rows=rows)

    assert [(e.line, e.field, e.message) for e in info.value.row_errors] == [
        (4, "title", "Surrogate characters are not allowed: U+D800.")
    ]
    assert Product.objects.count() == OutboxEvent.objects.count() == 0


def test_a_reader_failing_while_rows_are_spooled_writes_nothing_and_leaves_the_connection_usable(monkeypatch):
    monkeypatch.setattr(services, "IMPORT_BATCH", 4)

    def rows_then_a_broken_file():
        yield from ({"sku": f"R-{i}", "title": "t", "price": "1"} for i in range(13))
        raise OSError("the file went away")

    with pytest.raises(OSError, match="went away"):
        product_import(rows=rows_then_a_broken_file())

    assert Product.objects.count() == OutboxEvent.objects.count() == 0
    assert product_import(rows=[{"sku": f"R-{i}", "title": "t", "price": "1"} for i in range(9)]).created == 9


# --- the quick path of import validation -------------------------------------------

# Valid and invalid values of each field: the quick path must either clean a value as
# Django's field does, or leave it to the field (never accept what the field rejects).
QUICK_CASES = {
    "sku": ["A-1", "x" * 64, "x" * 65, "", " ", " A ", None, 12, "a\x00b", "é" * 64],
    "title": ["T", "t" * 200, "t" * 201, "", "   ", "\t\n", None, 3.5, ["t"], "nul\x00"],
    "description": ["", "   ", "long " * 1000, "d" * 10_000, "d" * 10_001, "nul\x00", None, 7],
    "price": [
        "0",
        "1",
        "1.5",
        "1.50",
        "0.00",
        "9999999999.99",
        "99999999999",
        "1.234",
        "-1",
        "-0",
        "1e3",
        "NaN",
        "Infinity",
        " 1",
        "1 ",
        "1.",
        ".5",
        "٣",
        "+1",
        "",
        None,
        1,
        1.5,
        Decimal("2.25"),
    ],
    "image_url": ["", "https://example.com/a.png", "not a url", None, "  "],
    "is_active": [True, False, 1, 0, "t", "False", "yes", None],
}


def _django_clean(name, value):
    try:
        return ("ok", validation.IMPORT_FIELDS[name].clean(value, None))
    except ValidationError as exc:
        return ("error", exc.messages)


@pytest.mark.parametrize("name", sorted(QUICK_CASES))
def test_the_quick_path_cleans_as_the_field_does_or_leaves_the_value_to_it(name):
    quick = validation.QUICK_CLEAN[name]
    taken = 0
    for value in QUICK_CASES[name]:
        result = quick(value)
        if result is validation.UNSURE:
            continue
        taken += 1
        expected = _django_clean(name, value)
        assert expected == ("ok", result), f"{name}={value!r}: quick {result!r}, Django {expected!r}"
        assert type(result) is type(expected[1])
    assert taken, f"the quick path of {name} took none of its plain values"


def test_the_quick_path_knows_every_validator_of_the_fields_it_checks():
    # A validator added to one of these fields must be taught to _QUICK_CLEAN too,
    # or the quick path would accept what the field now rejects.
    text = {"not_blank", "ProhibitNullCharactersValidator", "MaxLengthValidator"}
    known = {
        "sku": text,
        "title": text,
        "description": {"ProhibitNullCharactersValidator", "MaxLengthValidator"},
        "price": {"MinValueValidator", "DecimalValidator"},
        "image_url": {"URLValidator", "MaxLengthValidator", "ProhibitNullCharactersValidator"},
        "is_active": set(),
    }
    for name, field in validation.IMPORT_FIELDS.items():
        assert {getattr(v, "__name__", type(v).__name__) for v in field.validators} == known[name], name
        assert not field.choices, name
        assert not field.null, name


def test_an_import_of_values_the_quick_path_leaves_to_django_is_cleaned_by_django():
    result = product_import(
        rows=[{"sku": "Q", "title": "t", "price": 3, "is_active": "f", "image_url": "https://example.com/q.png"}]
    )

    assert result.created == 1
    product = Product.objects.get(sku="Q")
    assert (product.price, product.is_active, product.image_url) == (Decimal("3"), False, "https://example.com/q.png")
