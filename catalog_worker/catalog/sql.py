"""The catalog's statements, as they run: applying a batch, storing task results, reading lag."""

from sync_contract.checksums import range_sums_sql

# One statement per message: the versioned upsert of the batch, its count in the worker's
# counter row (when %(counter_shard)s is given) and the task's SUCCESS result (when
# %(task_id)s is given), so the three commit together in one round trip
# (docs/decisions/0004-one-statement-per-message.md). %(superseded)s is "" or the
# result's "superseded" member: events a newer one of the same message replaced.
#
# The version rule is the upsert's WHERE: a row changes only for a strictly newer version,
# so a duplicate or late event changes nothing and a tombstone (deleted at version v) is
# replaced only above v. Rows are written in product_id order (no deadlock between two
# workers); the batch travels as one json parameter (planning a VALUES list costs more).
APPLY_SQL = """
    WITH applied AS (
        INSERT INTO catalog_catalogproduct AS t (product_id, sku, title, description, price, image_url, is_active,
                                                 version, deleted, event_id, occurred_at, applied_at)
        SELECT product_id, sku, title, description, price, image_url, is_active, version, deleted, event_id,
               occurred_at, clock_timestamp()
          FROM json_to_recordset(%(batch)s::json) AS batch(
               product_id bigint, sku text, title text, description text, price numeric, image_url text,
               is_active boolean, version bigint, deleted boolean, event_id uuid, occurred_at timestamptz)
         ORDER BY product_id
        ON CONFLICT (product_id) DO UPDATE
           SET (sku, title, description, price, image_url, is_active, version, deleted, event_id, occurred_at,
                applied_at)
             = (EXCLUDED.sku, EXCLUDED.title, EXCLUDED.description, EXCLUDED.price, EXCLUDED.image_url,
                EXCLUDED.is_active, EXCLUDED.version, EXCLUDED.deleted, EXCLUDED.event_id, EXCLUDED.occurred_at,
                EXCLUDED.applied_at)
         WHERE t.version < EXCLUDED.version
        RETURNING 1
    ), outcome AS (
        SELECT count(*) AS applied, %(total)s - count(*) AS stale FROM applied
    ), counted AS (
        INSERT INTO catalog_synccounter AS c (shard, applied, skipped, batches, updated_at)
        SELECT %(counter_shard)s, applied, stale, 1, now() FROM outcome WHERE %(counter_shard)s IS NOT NULL
        ON CONFLICT (shard) DO UPDATE
           SET applied = c.applied + EXCLUDED.applied, skipped = c.skipped + EXCLUDED.skipped,
               batches = c.batches + 1, updated_at = EXCLUDED.updated_at
    ), stored AS (
        INSERT INTO django_celery_results_taskresult AS r (
               task_id, status, result, traceback, meta, content_encoding, content_type, periodic_task_name,
               task_name, task_args, task_kwargs, worker, date_created, date_done, date_started)
        SELECT %(task_id)s, %(status)s,
               format('{"applied": %%s, "stale": %%s%%s}', applied, stale, %(superseded)s::text), %(traceback)s,
               %(meta)s, %(content_encoding)s, %(content_type)s, %(periodic_task_name)s, %(task_name)s,
               %(task_args)s, %(task_kwargs)s, %(worker)s, clock_timestamp(), clock_timestamp(), NULL
          FROM outcome WHERE %(task_id)s IS NOT NULL
        ON CONFLICT (task_id) DO UPDATE
           SET (status, result, traceback, meta, content_encoding, content_type, periodic_task_name, task_name,
                task_args, task_kwargs, worker, date_done)
             = (EXCLUDED.status, EXCLUDED.result, EXCLUDED.traceback, EXCLUDED.meta, EXCLUDED.content_encoding,
                EXCLUDED.content_type, EXCLUDED.periodic_task_name, EXCLUDED.task_name, EXCLUDED.task_args,
                EXCLUDED.task_kwargs, EXCLUDED.worker, EXCLUDED.date_done)
    )
    SELECT applied FROM outcome
"""

# A task state as django-celery-results stores it (the same columns, one statement instead
# of its manager's get_or_create and save): RETRY and FAILURE rows, written by Celery.
STORE_RESULT_SQL = """
    INSERT INTO django_celery_results_taskresult AS r (
           task_id, status, result, traceback, meta, content_encoding, content_type, periodic_task_name,
           task_name, task_args, task_kwargs, worker, date_created, date_done, date_started)
    VALUES (%(task_id)s, %(status)s, %(result)s, %(traceback)s, %(meta)s, %(content_encoding)s, %(content_type)s,
            %(periodic_task_name)s, %(task_name)s, %(task_args)s, %(task_kwargs)s, %(worker)s,
            clock_timestamp(), clock_timestamp(), CASE WHEN %(started)s THEN clock_timestamp() END)
    ON CONFLICT (task_id) DO UPDATE
       SET (status, result, traceback, meta, content_encoding, content_type, periodic_task_name, task_name,
            task_args, task_kwargs, worker, date_done, date_started)
         = (EXCLUDED.status, EXCLUDED.result, EXCLUDED.traceback, EXCLUDED.meta, EXCLUDED.content_encoding,
            EXCLUDED.content_type, EXCLUDED.periodic_task_name, EXCLUDED.task_name, EXCLUDED.task_args,
            EXCLUDED.task_kwargs, EXCLUDED.worker, EXCLUDED.date_done, COALESCE(EXCLUDED.date_started, r.date_started))
"""

COUNTER_TOTALS_SQL = """
    SELECT coalesce(sum(applied), 0), coalesce(sum(skipped), 0), coalesce(sum(batches), 0) FROM catalog_synccounter
"""

# Commit-to-applied lag of the products applied in the last %(seconds)s, read from the
# catalog rows themselves (each holds the lag of its latest applied version; the
# applied_at index serves the window).
LAG_SUMMARY_SQL = """
    SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY lag), max(lag)
      FROM (SELECT GREATEST(0, EXTRACT(EPOCH FROM applied_at - occurred_at)) AS lag
              FROM catalog_catalogproduct
             WHERE applied_at >= now() - make_interval(secs => %(seconds)s)) AS recent
"""

LAG_SERIES_SQL = """
    SELECT date_bin(make_interval(secs => %(bucket)s), applied_at, TIMESTAMPTZ '2000-01-01') AS bucket, count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.95) WITHIN GROUP (ORDER BY lag)
      FROM (SELECT applied_at, GREATEST(0, EXTRACT(EPOCH FROM applied_at - occurred_at)) AS lag
              FROM catalog_catalogproduct
             WHERE applied_at >= now() - make_interval(secs => %(seconds)s)) AS recent
     GROUP BY bucket ORDER BY bucket
"""

# Cumulative counts at the metrics histogram's upper bounds (catalog.lag.HISTOGRAM_BUCKETS).
LAG_HISTOGRAM_SQL = """
    SELECT count(*) FILTER (WHERE lag <= 0.05), count(*) FILTER (WHERE lag <= 0.1),
           count(*) FILTER (WHERE lag <= 0.25), count(*) FILTER (WHERE lag <= 0.5),
           count(*) FILTER (WHERE lag <= 1), count(*) FILTER (WHERE lag <= 2.5),
           count(*) FILTER (WHERE lag <= 5), count(*) FILTER (WHERE lag <= 10),
           count(*) FILTER (WHERE lag <= 30), count(*) FILTER (WHERE lag <= 60),
           count(*) FILTER (WHERE lag <= 300), count(*), coalesce(sum(lag), 0)
      FROM (SELECT GREATEST(0, EXTRACT(EPOCH FROM applied_at - occurred_at)) AS lag
              FROM catalog_catalogproduct
             WHERE applied_at >= now() - make_interval(secs => %(seconds)s)) AS recent
"""

# The drift check's per-range checksums of live rows (tombstones left out: the admin sums
# its live products); docs/decisions/0023-range-checksums.md.
RANGE_SUMS_SQL = range_sums_sql(table="catalog_catalogproduct", id_column="product_id", live="NOT deleted")
