"""Waiting for a condition with a deadline: the one way the tests wait, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy and return that; TimeoutError after ``timeout`` s.

    An exception from ``predicate`` counts as "not yet" (a service may still be starting)
    and is named in the TimeoutError if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{what} not met within {timeout}s{detail}") from last_error
        time.sleep(interval)
