"""Who may do what through the API: staff, with the Django model permission of the action."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions
from rest_framework.request import Request

VIEW = "%(app_label)s.view_%(model_name)s"


def _staff(request: Request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class StaffModelPermissions(DjangoModelPermissions):
    """Staff with the model permission of the method: view to read, add / change / delete to write.

    A view without a model (the API root) is open to staff for reading only.
    """

    perms_map = {**DjangoModelPermissions.perms_map, "GET": [VIEW], "HEAD": [VIEW]}

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _staff(request):
            return False
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return request.method in SAFE_METHODS
        return super().has_permission(request, view)


class StaffWithPermissions(StaffModelPermissions):
    """Staff holding every permission in ``required`` (an action beyond one model method, e.g. an import)."""

    required: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: Any) -> bool:
        return _staff(request) and request.user.has_perms(self.required)


class CanImportProducts(StaffWithPermissions):
    """An import creates and changes products."""

    required = ("products.add_product", "products.change_product")
