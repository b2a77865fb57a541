"""Every write and staff action takes its Django model permission: a view-only staff member changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from products.models import OutboxEvent, Product

from .factories import api_product_data, make_product

pytestmark = pytest.mark.django_db

LIST = "/api/products/"
CHANGELIST = "/admin/products/product/"


def counts() -> tuple[int, int]:
    return Product.objects.count(), OutboxEvent.objects.count()


@pytest.fixture
def viewer_api(api_client: APIClient, viewer_user) -> APIClient:
    api_client.force_login(viewer_user)
    return api_client


class TestApi:
    def test_a_view_only_staff_member_reads_but_writes_nothing(self, viewer_api: APIClient) -> None:
        product = make_product(sku="SEEN")
        one = f"{LIST}{product.pk}/"

        assert viewer_api.get(LIST).status_code == 200
        assert viewer_api.get(one).json()["sku"] == "SEEN"
        assert viewer_api.post(LIST, api_product_data(sku="NEW"), format="json").status_code == 403
        assert viewer_api.put(one, api_product_data(sku="SEEN", title="x"), format="json").status_code == 403
        assert viewer_api.patch(one, {"title": "x"}, format="json").status_code == 403
        assert viewer_api.delete(one).status_code == 403
        assert counts() == (1, 1)
        assert Product.objects.get().title == product.title

    def test_staff_without_view_permission_read_nothing(self, api_client: APIClient, viewer_user) -> None:
        viewer_user.user_permissions.clear()
        api_client.force_login(viewer_user)

        assert api_client.get(LIST).status_code == 403

    def test_each_write_takes_its_own_permission(self, api_client: APIClient, viewer_user) -> None:
        viewer_user.user_permissions.add(Permission.objects.get(codename="add_product"))
        api_client.force_login(viewer_user)

        created = api_client.post(LIST, api_product_data(sku="ADDED"), format="json")
        one = f"{LIST}{created.json()['id']}/"

        assert created.status_code == 201
        assert api_client.patch(one, {"title": "x"}, format="json").status_code == 403
        assert api_client.delete(one).status_code == 403
        assert counts() == (1, 1)


class TestAdmin:
    def test_a_view_only_staff_member_cannot_add_change_or_delete(self, viewer_client) -> None:
        product = make_product(sku="SEEN")
        change = f"{CHANGELIST}{product.pk}/change/"
        form = {"sku": "SEEN", "title": "changed", "price": "1", "is_active": "on", "description": "", "image_url": ""}

        assert viewer_client.get(CHANGELIST).status_code == 200
        assert viewer_client.get(change).status_code == 200  # read-only view
        assert viewer_client.post(f"{CHANGELIST}add/", {**form, "sku": "NEW"}).status_code == 403
        assert viewer_client.post(change, form).status_code == 403
        assert viewer_client.post(f"{CHANGELIST}{product.pk}/delete/", {"post": "yes"}).status_code == 403
        assert counts() == (1, 1)

    def test_resync_needs_its_own_permission(self, viewer_client, viewer_user) -> None:
        product = make_product(sku="RESYNC")
        action = {"action": "resync_selected", "_selected_action": [product.pk]}

        assert "resync_selected" not in viewer_client.get(CHANGELIST).content.decode()
        viewer_client.post(CHANGELIST, action)
        assert counts() == (1, 1)

        viewer_user.user_permissions.add(Permission.objects.get(codename="resync_product"))
        assert "resync_selected" in viewer_client.get(CHANGELIST).content.decode()
        viewer_client.post(CHANGELIST, action)
        assert counts() == (1, 2)  # one resync event, no write to the product
