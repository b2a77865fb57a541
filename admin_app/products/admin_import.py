"""The admin's "Import products" page: a CSV upload through ``product_import`` (any invalid row: nothing written)."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from products.import_formats import read_csv
from products.services import ImportRejected, ImportStopped, RowError, product_import

IMPORT_PERMISSIONS = ("products.add_product", "products.change_product")


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header row")


def import_page(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        raise PermissionDenied("importing takes the add and change product permissions")
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[RowError] = []
    count, stopped = 0, ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
        try:
            result = product_import(rows=read_csv(text))
        except ImportRejected as exc:
            errors, count = exc.row_errors, exc.count
        except ImportStopped as exc:
            stopped = str(exc)
        except UnicodeDecodeError as exc:
            errors, count = [RowError(0, "file", f"not UTF-8 text (byte {exc.start})")], 1
        else:
            messages.success(
                request,
                f"Imported {result.created + result.updated + result.unchanged} rows: {result.created} created, "
                f"{result.updated} updated, {result.unchanged} unchanged.",
            )
            return HttpResponseRedirect(reverse("admin:products_product_changelist"))
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Import products",
        "form": form,
        "errors": errors,
        "count": count,
        "stopped": stopped,
    }
    return TemplateResponse(request, "products/import.html", context)
