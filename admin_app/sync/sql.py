"""The relay's statements on the outbox (``products_outboxevent``), and the drift check's
checksums of the products, as they run."""

from sync_contract.checksums import range_sums_sql

# Claim and mark in one statement, inside the round's transaction: it commits only after
# every message was confirmed; a failed publish un-marks its rows (MARK_FAILED_SQL) and a
# relay that dies rolls the marks back. The commit skips its WAL flush (it records only
# "published"; a lost one means a re-send the catalog skips by version), and sorting is
# off so the plan stays an ordered index scan whatever the statistics:
# docs/decisions/0002-relay-claim.md.
CLAIM_SQL = """
    SET LOCAL synchronous_commit TO OFF;
    SET LOCAL enable_sort TO OFF;
    UPDATE products_outboxevent AS o
       SET published_at = clock_timestamp(), last_error = '', next_attempt_at = NULL
     WHERE o.id = ANY(ARRAY(SELECT id FROM products_outboxevent
                             WHERE published_at IS NULL
                               AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                             ORDER BY id
                             LIMIT %(limit)s
                               FOR UPDATE SKIP LOCKED))
 RETURNING o.id, o.event_id::text, o.product_id, o.version, o.op, json_build_object(
           'event_id', o.event_id, 'product_id', o.product_id, 'version', o.version, 'op', o.op,
           'occurred_at', o.occurred_at, 'data', o.data)::text
"""

# Exponential backoff, capped, with equal jitter (half fixed, half random), counted from
# the failure (clock_timestamp), not from the start of the round's transaction.
MARK_FAILED_SQL = """
    UPDATE products_outboxevent
       SET published_at = NULL,
           attempts = attempts + 1,
           last_error = %(error)s,
           next_attempt_at = clock_timestamp() + make_interval(
               secs => LEAST(%(backoff_max)s, %(backoff_base)s * power(2, attempts)) * (0.5 + random() / 2))
     WHERE id = ANY(%(ids)s)
"""

NEXT_DUE_SQL = """
    SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))
      FROM products_outboxevent
     WHERE published_at IS NULL AND next_attempt_at IS NOT NULL
"""

# In chunks, so no lock is held long.
PRUNE_SQL = """
    DELETE FROM products_outboxevent
     WHERE id IN (SELECT id FROM products_outboxevent
                   WHERE published_at IS NOT NULL
                     AND published_at < now() - make_interval(secs => %(retention_seconds)s)
                   LIMIT %(chunk)s)
"""

# The drift check's per-range checksums of the live products, the same sums the catalog
# computes over its live rows: docs/decisions/0023-range-checksums.md.
RANGE_SUMS_SQL = range_sums_sql(table="products_product", id_column="id", live="TRUE")
