"""product_import applies a validated import in chunks, each committed: the relay sees the
first while later ones are written, and a failure leaves whole chunks that a re-run completes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from products import services
from products.models import OutboxEvent, Product
from products.services import ImportResult, ImportStopped, product_create, product_import
from testkit.postgres import SHARED_PG
from testkit.waiting import wait_until

SKUS = [f"C-{i:02d}" for i in range(30)]  # three chunks of ten, in sku order
BLOCKED = "C-25"  # a row of the last chunk
REFUSE_TRIGGER = """
    CREATE FUNCTION test_refuse_sku() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.sku = %(sku)s THEN RAISE EXCEPTION 'refused by the test: %%', NEW.sku; END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON products_product
       FOR EACH ROW EXECUTE FUNCTION test_refuse_sku();
"""
DROP_TRIGGER = "DROP TRIGGER IF EXISTS test_refuse ON products_product; DROP FUNCTION IF EXISTS test_refuse_sku()"


def rows() -> list[dict[str, Any]]:
    return [{"sku": sku, "title": f"Title {sku}", "price": "1.50"} for sku in reversed(SKUS)]  # any file order


@pytest.fixture
def chunks_of_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "IMPORT_BATCH", 4)  # spooled
    monkeypatch.setattr(services, "IMPORT_APPLY_CHUNK", 10)


def other_connection() -> Any:
    """A second session on the test database (psycopg2, autocommit off)."""
    return connection.get_new_connection(connection.get_connection_params())


@pytest.fixture
def refuse_one_sku() -> Iterator[None]:
    """A trigger that fails the write of BLOCKED: a database error in the last chunk."""
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_TRIGGER, {"sku": BLOCKED})
    yield
    with connection.cursor() as cursor:
        cursor.execute(DROP_TRIGGER)


def committed(observer: Any) -> dict[str, int]:
    """Skus and versions committed, as another session sees them."""
    observer.rollback()
    with observer.cursor() as cursor:
        cursor.execute("SELECT sku, version FROM products_product")
        return dict(cursor.fetchall())


def claimable_products(observer: Any) -> set[int]:
    """Products whose events a relay could claim now (pending, not locked), from another session."""
    try:
        with observer.cursor() as cursor:
            cursor.execute(
                "SELECT product_id FROM products_outboxevent WHERE published_at IS NULL "
                "ORDER BY id FOR UPDATE SKIP LOCKED"
            )
            return {product_id for (product_id,) in cursor.fetchall()}
    finally:
        observer.rollback()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_an_earlier_chunk_is_committed_and_claimable_before_the_last_is_applied(chunks_of_ten: None) -> None:
    product_create(data={"sku": BLOCKED, "title": "Old", "price": "1.00"})
    locker, observer = other_connection(), other_connection()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = product_import(rows=rows())
        except Exception as exc:  # noqa: BLE001 - reported by the test thread below
            outcome["error"] = exc
        finally:
            connection.close()

    importer = threading.Thread(target=run, daemon=True)
    try:
        with locker.cursor() as cursor:  # the last chunk waits for this row lock
            cursor.execute("SELECT id FROM products_product WHERE sku = %s FOR UPDATE", [BLOCKED])
        importer.start()
        first = set(SKUS[:10])
        seen = wait_until(
            lambda: first <= set(committed(observer)) and committed(observer),
            timeout=20,
            what="the first chunk committed, seen from another session",
        )
        ids = dict(Product.objects.filter(sku__in=first).values_list("sku", "id"))
        assert set(ids.values()) <= claimable_products(observer)
        assert importer.is_alive()  # still waiting on the last chunk
        assert not set(SKUS[20:]) - {BLOCKED} & set(seen)
        assert seen[BLOCKED] == 1
    finally:
        locker.rollback()
        locker.close()
        observer.close()
        importer.join(timeout=30)
    assert outcome == {"result": ImportResult(created=29, updated=1, unchanged=0)}
    assert dict(Product.objects.values_list("sku", "version")) == {**dict.fromkeys(SKUS, 1), BLOCKED: 2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_a_failed_chunk_leaves_the_earlier_ones_and_a_rerun_completes_without_duplicates(
    chunks_of_ten: None, refuse_one_sku: None
) -> None:
    with pytest.raises(ImportStopped) as info:
        product_import(rows=rows())

    assert (info.value.applied, info.value.total) == (20, 30)
    assert str(info.value).startswith("import stopped after 20 of 30 rows were applied: refused by the test: C-25")
    assert str(info.value).endswith("; run it again to apply the rest")
    observer = other_connection()
    try:
        assert committed(observer) == dict.fromkeys(SKUS[:20], 1)
    finally:
        observer.close()
    assert sorted(OutboxEvent.objects.values_list("data__sku", "version")) == [(sku, 1) for sku in SKUS[:20]]

    with connection.cursor() as cursor:
        cursor.execute(DROP_TRIGGER)
    assert product_import(rows=rows()) == ImportResult(created=10, updated=0, unchanged=20)

    assert dict(Product.objects.values_list("sku", "version")) == dict.fromkeys(SKUS, 1)
    assert sorted(OutboxEvent.objects.values_list("data__sku", "version")) == [(sku, 1) for sku in SKUS]


# --- what the command, the API and the admin page say (inside the test's transaction) ---


@pytest.mark.django_db
def test_the_command_says_how_far_it_got_and_to_run_it_again(
    chunks_of_ten: None, refuse_one_sku: None, tmp_path: Path
) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("sku,title,price\n" + "".join(f"{r['sku']},{r['title']},{r['price']}\n" for r in rows()))

    with pytest.raises(CommandError, match=r"^import stopped after 20 of 30 rows were applied: refused by the test"):
        call_command("import_products", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert Product.objects.count() == 20


@pytest.mark.django_db
def test_the_api_answers_409_with_the_rows_applied(
    chunks_of_ten: None, refuse_one_sku: None, staff_api: APIClient
) -> None:
    response = staff_api.post("/api/products/import/", rows(), format="json")

    assert response.status_code == 409
    body = response.json()
    assert (body["applied"], body["total"]) == (20, 30)
    assert body["detail"].endswith("run it again to apply the rest")


@pytest.mark.django_db
def test_the_admin_page_says_how_far_it_got(chunks_of_ten: None, refuse_one_sku: None, staff_client: Any) -> None:
    csv = "sku,title,price\n" + "".join(f"{r['sku']},{r['title']},{r['price']}\n" for r in rows())
    upload = SimpleUploadedFile("feed.csv", csv.encode(), content_type="text/csv")

    response = staff_client.post("/admin/products/product/import/", {"file": upload})

    assert response.status_code == 200
    assert "import stopped after 20 of 30 rows were applied" in response.content.decode()


@pytest.mark.django_db
def test_a_small_import_that_fails_says_none_was_applied(refuse_one_sku: None) -> None:
    with pytest.raises(ImportStopped, match=r"^import stopped after 0 of 2 rows were applied"):
        product_import(rows=[{"sku": "C-00", "title": "t", "price": "1"}, {"sku": BLOCKED, "title": "t", "price": "1"}])
    assert Product.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_ctrl_c_while_applying_says_how_far_it_got_and_a_rerun_completes(tmp_path: Path) -> None:
    """A real SIGINT to ``manage.py import_products``: no traceback, exit 130, the count committed."""
    total = 60_000  # twelve chunks of IMPORT_APPLY_CHUNK: the signal lands while they commit
    path = tmp_path / "feed.csv"
    path.write_text("sku,title,price\n" + "".join(f"K-{i:06d},Title {i},1.50\n" for i in range(total)))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "admin_project.settings.test",
        "ADMIN_DATABASE_URL": SHARED_PG.url(connection.settings_dict["NAME"]),
    }
    observer = other_connection()
    command = subprocess.Popen(
        [sys.executable, "manage.py", "import_products", str(path)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: len(committed(observer)) >= services.IMPORT_APPLY_CHUNK,
            timeout=60,
            interval=0.01,
            what="the first chunk committed",
        )
        command.send_signal(signal.SIGINT)
        _, err = command.communicate(timeout=30)
        applied = len(committed(observer))
    finally:
        if command.poll() is None:
            command.kill()
        observer.close()

    assert command.returncode == 130, err
    assert "Traceback" not in err
    assert f"import stopped after {applied} of {total} rows were applied: interrupted; run it again" in err
    assert 0 < applied < total
    assert applied % services.IMPORT_APPLY_CHUNK == 0

    call_command("import_products", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert Product.objects.count() == OutboxEvent.objects.count() == total
    assert set(Product.objects.values_list("version", flat=True)) == {1}
