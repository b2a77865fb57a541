"""manage.py import_products: CSV and JSON Lines, upsert by sku, a bad row writes nothing, a summary."""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from products.models import OutboxEvent, Product
from products.services import product_create

pytestmark = pytest.mark.django_db

CSV = "sku,title,price,description,is_active,image_url\n"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_products", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_csv_creates_updates_and_leaves_identical_rows_alone(tmp_path: Path) -> None:
    kept = product_create(data={"sku": "KEEP", "title": "Kept", "price": "3.00"})
    changed = product_create(data={"sku": "CHANGE", "title": "Old", "price": "3.00"})
    path = tmp_path / "feed.csv"
    path.write_text(
        CSV + 'KEEP,Kept,3,,,\nCHANGE,New,4.50,"with, comma",no,\nNEW,Fresh,1.25,,yes,https://example.com/n.png\n'
    )

    out, err = run(str(path))

    assert "imported 3 rows: 1 created, 1 updated, 1 unchanged in" in out
    assert "rows/s" in out
    assert err == ""  # no progress bar when stderr is not a terminal
    kept.refresh_from_db()
    changed.refresh_from_db()
    assert kept.version == 1
    assert (changed.version, changed.title, changed.price, changed.description, changed.is_active) == (
        2,
        "New",
        Decimal("4.50"),
        "with, comma",
        False,
    )
    assert Product.objects.get(sku="NEW").image_url == "https://example.com/n.png"
    assert sorted(OutboxEvent.objects.values_list("version", flat=True)) == [1, 1, 1, 2]


def test_json_lines_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        {"sku": "J-1", "title": "One", "price": 1.5},
        {"sku": "J-2", "title": "Two", "price": "2", "is_active": False},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body.encode())))

    out, _ = run("-", "--format", "jsonl")

    assert "2 created, 0 updated, 0 unchanged" in out
    assert Product.objects.get(sku="J-1").price == Decimal("1.50")
    assert Product.objects.get(sku="J-2").is_active is False


def test_an_invalid_file_writes_nothing_and_lists_every_error_by_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV + "OK,Fine,1,,,\nB1,,-1,,,\nB2,T,1,,maybe,not a url\nOK,Again,1,,,\nB3,T\n")

    with pytest.raises(CommandError, match="5 errors: nothing imported"):
        run(str(path))

    assert Product.objects.count() == OutboxEvent.objects.count() == 0


def test_the_error_listing(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"sku": "A", "title": "t", "price": "1"}\nnot json\n[1]\n'
        '{"sku": "B", "title": "t", "price": "x", "colour": 1}\n'
    )
    err = io.StringIO()

    with pytest.raises(CommandError, match="4 errors"):
        call_command("import_products", str(path), stdout=io.StringIO(), stderr=err)

    listed = err.getvalue().splitlines()
    assert listed[0].startswith("line 2: non_field_errors: not JSON")
    assert listed[1] == "line 3: non_field_errors: expected a JSON object, got list"
    assert "line 4: colour: not a product field" in listed
    assert "line 4: price: “x” value must be a decimal number." in listed


def test_errors_are_capped_with_the_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from products import services

    monkeypatch.setattr(services, "MAX_IMPORT_ERRORS", 3)
    path = tmp_path / "many.csv"
    path.write_text(CSV + "".join(f"S{i},,1,,,\n" for i in range(10)))
    err = io.StringIO()

    with pytest.raises(CommandError, match="10 errors"):
        call_command("import_products", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "line 2: title: This field cannot be blank.",
        "line 3: title: This field cannot be blank.",
        "line 4: title: This field cannot be blank.",
        "... and 7 more",
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("feed.txt", "x", "cannot tell the format"),
        ("missing.csv", None, "cannot read"),
        ("latin1.csv", (CSV + "S,caf\xe9,1,,,\n").encode("latin-1"), "not UTF-8"),
        ("header.csv", "sku,name,price\n", "2 errors"),
    ],
)
def test_unusable_files_are_clear_command_errors(tmp_path: Path, name: str, content, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(CommandError, match=message):
        run(str(path))
    assert Product.objects.count() == 0
