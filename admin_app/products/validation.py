"""Validation of an imported row: Django's own field checks, with a quick path for plain values.

``clean_row`` returns the row ready for the import statement, or its errors by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db.models import Field

from products.models import Product, not_blank
from sync_contract.events import PLAIN_PRICE

PRODUCT_FIELDS = ("sku", "title", "description", "price", "image_url", "is_active")
# A row is a whole product: what it leaves out takes the value a create gives it.
IMPORT_DEFAULTS = {"description": "", "image_url": "", "is_active": True}


def _concrete_field(name: str) -> Field[Any, Any]:
    field = Product._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"Product.{name} is not a concrete field")
    return field


IMPORT_FIELDS = {name: _concrete_field(name) for name in PRODUCT_FIELDS}

# The common, plainly valid value of each field, recognised without Django's field
# machinery (the most of an import's Python otherwise). Anything else, every invalid value
# included, is left to the field's own clean(), so the cleaned values and every error
# message stay Django's; a test compares the two on valid and invalid values of each field
# and fails when a field gains a validator these checks do not know
# (docs/decisions/0007-import-quick-clean.md).
UNSURE = object()
# A lone surrogate (what a JSON \ud800 escape gives) is text UTF-8 cannot encode: PostgreSQL
# cannot store it. The API's fields refuse it with this message (DRF's CharField; decision 0032).
_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(value: object) -> None:
    if type(value) is str and not value.isascii() and (found := _SURROGATE.search(value)):
        raise ValidationError(f"Surrogate characters are not allowed: U+{ord(found.group()):X}.", code="surrogate")


# A field's quick check: the cleaned value, or UNSURE.
QuickClean = Callable[[Any], object]


def _quick_text(field: Field[Any, Any]) -> QuickClean:
    limits = [field.max_length] + [v.limit_value for v in field.validators if isinstance(v, MaxLengthValidator)]
    max_length = min((limit for limit in limits if limit is not None), default=None)
    blank = field.blank and not_blank not in field.validators

    def quick(value: Any) -> object:
        if (
            type(value) is str
            and (blank or value.strip())
            and "\x00" not in value
            and (max_length is None or len(value) <= max_length)
            and (value.isascii() or not _SURROGATE.search(value))
        ):
            return value
        return UNSURE

    return quick


def _quick_price(value: Any) -> object:
    if type(value) is str and PLAIN_PRICE.fullmatch(value):
        return Decimal(value)
    return UNSURE


def _quick_image_url(value: Any) -> object:
    return "" if value == "" and type(value) is str else UNSURE  # a non-empty URL goes to URLValidator


def _quick_bool(value: Any) -> object:
    return value if value is True or value is False else UNSURE


QUICK_CLEAN: dict[str, QuickClean] = {
    "sku": _quick_text(IMPORT_FIELDS["sku"]),
    "title": _quick_text(IMPORT_FIELDS["title"]),
    "description": _quick_text(IMPORT_FIELDS["description"]),
    "price": _quick_price,
    "image_url": _quick_image_url,
    "is_active": _quick_bool,
}


_KNOWN = frozenset(PRODUCT_FIELDS)
_CHECKS = tuple(QUICK_CLEAN.items())


def clean_row(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The row's cleaned fields (price as text, for the json batch) and its errors by field."""
    errors: dict[str, list[str]] = (
        {} if row.keys() <= _KNOWN else {name: ["not a product field"] for name in row if name not in _KNOWN}
    )
    full = {**IMPORT_DEFAULTS, **row}
    cleaned: dict[str, Any] = {}
    for name, check in _CHECKS:
        value = full.get(name)
        quick = check(value)
        if quick is not UNSURE:
            cleaned[name] = quick
            continue
        try:
            cleaned[name] = IMPORT_FIELDS[name].clean(value, None)
            no_surrogates(cleaned[name])
        except ValidationError as exc:
            errors[name] = exc.messages
    if not errors:
        cleaned["price"] = str(cleaned["price"])
    return cleaned, errors
