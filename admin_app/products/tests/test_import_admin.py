"""The admin's "Import products" page: a CSV upload, errors on the page, nothing written on error."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from products.models import OutboxEvent, Product
from products.services import product_create

pytestmark = pytest.mark.django_db

PAGE = "/admin/products/product/import/"
CHANGELIST = "/admin/products/product/"


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("feed.csv", text.encode(), content_type="text/csv")


def test_the_product_list_links_the_import_page(staff_client) -> None:
    assert 'id="import-products"' in staff_client.get(CHANGELIST).content.decode()
    assert staff_client.get(PAGE).status_code == 200


def test_an_upload_imports_and_confirms_with_the_counts(staff_client) -> None:
    product_create(data={"sku": "SAME", "title": "Same", "price": "1.00"})
    csv = "sku,title,price\nSAME,Same,1.00\nNEW,New,2\n"

    response = staff_client.post(PAGE, {"file": upload(csv)}, follow=True)

    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "Imported 2 rows: 1 created, 0 updated, 1 unchanged." in response.content.decode()
    assert (Product.objects.count(), OutboxEvent.objects.count()) == (2, 2)


def test_row_errors_are_shown_and_nothing_is_written(staff_client) -> None:
    csv = "sku,title,price\nGOOD,Fine,1\nBAD,,-1\n"

    response = staff_client.post(PAGE, {"file": upload(csv)})

    html = response.content.decode()
    assert response.status_code == 200
    assert "2 errors: nothing was imported." in html
    assert "<td>3</td><td>title</td><td>This field cannot be blank.</td>" in html
    assert (Product.objects.count(), OutboxEvent.objects.count()) == (0, 0)


def test_a_view_only_staff_member_neither_sees_nor_uses_the_import(viewer_client) -> None:
    assert 'id="import-products"' not in viewer_client.get(CHANGELIST).content.decode()
    assert viewer_client.get(PAGE).status_code == 403
    assert viewer_client.post(PAGE, {"file": upload("sku,title,price\nX,x,1\n")}).status_code == 403
    assert Product.objects.count() == 0
