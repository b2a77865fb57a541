"""Per-range checksums of the live ``(product_id, version)`` pairs, for the drift check.

Each side sums, inside its own database, a hash of every live product in an id range;
the admin compares the sums and asks for pairs only in ranges that differ
(docs/decisions/0023-range-checksums.md). The hash is integer arithmetic modulo the
prime 2**31 - 1 (two squarings, so no linear mix of rows cancels out), cheap in SQL and
exact in Python: ``row_hash`` is the same function, for tests and stand-ins.

A range's checksum is ``"<rows>:<sum of versions>:<sum of hashes>"``: the row count
catches a missing or extra product, the version sum every stale or ahead one, the hash
sum a difference that the other two happen to balance.
"""

from __future__ import annotations

from dataclasses import dataclass

P = 2_147_483_647
# The largest id range one call may cover, and the most parts it may be cut into.
MAX_ID = 2**63 - 1
MAX_PARTS = 4096


def row_hash(product_id: int, version: int) -> int:
    x0 = ((product_id % P) * 48271 + (version % P) * 69621 + 1) % P
    x1 = (x0 * x0 + product_id % P) % P
    return (x1 * x1 + version % P) % P


def checksum(rows: int, versions: int, hashes: int) -> str:
    return f"{rows}:{versions}:{hashes}"


def step_of(lo: int, hi: int, parts: int) -> int:
    """The width of each part when [lo, hi) is cut into ``parts`` (the last may be narrower)."""
    return max(1, -(-(hi - lo) // parts))


@dataclass(frozen=True)
class RangeSum:
    lo: int
    hi: int
    rows: int
    checksum: str


def range_sums_sql(*, table: str, id_column: str, live: str) -> str:
    """``SELECT part, rows, versions, hashes`` over [%(lo)s, %(hi)s) in parts of %(step)s ids.

    One scan of the primary key range; the hash is ``row_hash`` above, written out (``%%``: a
    modulo among parameters).
    """
    return f"""
    SELECT part, count(*), sum(version), sum((x1 * x1 + version %% {P}) %% {P})
      FROM (SELECT part, version, (x0 * x0 + id %% {P}) %% {P} AS x1
              FROM (SELECT ({id_column} - %(lo)s) / %(step)s AS part, {id_column} AS id, version,
                           (({id_column} %% {P}) * 48271 + (version %% {P}) * 69621 + 1) %% {P} AS x0
                      FROM {table}
                     WHERE {id_column} >= %(lo)s AND {id_column} < %(hi)s AND {live}) AS a) AS b
     GROUP BY part
     ORDER BY part
    """  # noqa: S608 - table and columns are literals of the callers, values are parameters


def range_sums(rows: list[tuple[int, int, int, int]], *, lo: int, hi: int, step: int) -> list[RangeSum]:
    """The result of ``range_sums_sql`` as parts (empty parts left out)."""
    return [
        RangeSum(
            lo=lo + part * step,
            hi=min(hi, lo + (part + 1) * step),
            rows=int(count),
            checksum=checksum(int(count), int(versions), int(hashes)),
        )
        for part, count, versions, hashes in rows
    ]
