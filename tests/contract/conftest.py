"""Fixtures for the pure contract tests: no Django, no database, no broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sync_contract import ProductEvent

from .factories import build_event


@pytest.fixture
def product_event() -> ProductEvent:
    return build_event()


@pytest.fixture
def wire_event() -> Callable[..., dict[str, Any]]:
    """A factory of valid wire events; keyword arguments override ProductEvent fields."""

    def make(**overrides: Any) -> dict[str, Any]:
        return build_event(**overrides).to_wire()

    return make
