"""Compact log fields for batches: follow one change end to end without a line per event."""

from __future__ import annotations

from collections.abc import Iterable

PAIRS_SHOWN = 20


def product_versions(pairs: Iterable[tuple[int, int]], *, limit: int = PAIRS_SHOWN) -> str:
    """``"12:3,13:1,… (+230 more)"``: product_id:version of the first ``limit`` events."""
    shown: list[str] = []
    more = 0
    for product_id, version in pairs:
        if len(shown) < limit:
            shown.append(f"{product_id}:{version}")
        else:
            more += 1
    text = ",".join(shown)
    return f"{text} (+{more} more)" if more else text
