"""The statements that write products and their outbox events, as they run.

Each change and its event are one statement: the product is written in the ``written``
CTE and its event inserted from what that returned, so neither exists without the
other, in one round trip. A single change calls a PL/pgSQL function holding that
statement (``products_create``, ``products_update``, ``products_delete``: migration 0013);
an import runs its statement here. ``products_event_data(product)`` (a SQL function,
migration 0008) builds the event's data: the product's fields as the contract carries them.
"""

# Advisory lock keys shared by the outbox's NOTIFY trigger (migration 0012) and the relay.
RELAY_PROMISE_LOCK = 7106401  # held by a relay that will claim again within its round interval
NOTIFY_HANDOVER_LOCK = 7106402  # held shared by each writing transaction until it ends

# One change and its event: a call of the function holding the statement (migration 0013),
# whose plan PostgreSQL keeps for the session (docs/decisions/0029-write-functions.md).
_FIELDS = "%(sku)s, %(title)s, %(description)s, %(price)s, %(image_url)s, %(is_active)s"
CREATE_SQL = f"SELECT products_create({_FIELDS}, %(version)s, %(now)s)"
UPDATE_SQL = f"SELECT products_update(%(id)s, {_FIELDS}, %(version)s, %(now)s)"
# The delete event carries the version one up: the catalog keeps it as a tombstone.
DELETE_SQL = "SELECT products_delete(%(id)s, %(now)s)"

# An import: upsert by sku from a source of rows (version 1 when new, version + 1 when any
# field differs; an identical row is left alone: no version, no event) and one event per
# written row, in one statement; it answers (created, updated). The source is a json
# batch (one parameter) or, for an import larger than one batch, the spool below.
_IMPORT_FROM = """
    WITH written AS (
        INSERT INTO products_product AS p
               (sku, title, description, price, image_url, is_active, version, created_at, updated_at)
        SELECT sku, title, description, price, image_url, is_active, 1, %(now)s, %(now)s
          FROM {source} ORDER BY sku
        ON CONFLICT (sku) DO UPDATE
           SET title = EXCLUDED.title, description = EXCLUDED.description, price = EXCLUDED.price,
               image_url = EXCLUDED.image_url, is_active = EXCLUDED.is_active,
               version = p.version + 1, updated_at = EXCLUDED.updated_at
         WHERE (p.title, p.description, p.price, p.image_url, p.is_active)
               IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.description, EXCLUDED.price, EXCLUDED.image_url,
                                 EXCLUDED.is_active)
        RETURNING p.*
    ), events AS (
        INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
        SELECT id, version, 'upsert', %(now)s, products_event_data(written) FROM written
        RETURNING version
    )
    SELECT count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version > 1) FROM events
"""
_BATCH = """json_to_recordset(%(rows)s::json) AS b(
            sku text, title text, description text, price numeric, image_url text, is_active boolean)"""
IMPORT_SQL = _IMPORT_FROM.format(source=_BATCH)

# A large import streams its cleaned rows into this temporary table batch by batch, so
# memory stays flat, then applies them in chunks, each its own transaction: the table
# lives as long as the session (ON COMMIT PRESERVE ROWS), across the chunks' commits,
# and is dropped at the end. A table left by an import that died on this connection goes first.
SPOOL_CREATE_SQL = """
    DROP TABLE IF EXISTS product_import_spool;
    CREATE TEMPORARY TABLE product_import_spool (
        line bigint NOT NULL, sku text, title text, description text, price numeric, image_url text,
        is_active boolean
    )
"""
# The columns COPY takes, in the order each CSV line gives them.
SPOOL_COLUMNS = ("line", "sku", "title", "description", "price", "image_url", "is_active")
SPOOL_COPY_SQL = f"COPY product_import_spool ({', '.join(SPOOL_COLUMNS)}) FROM STDIN (FORMAT csv)"
# A sku given more than once: its lines, the first few groups, with the count of all repeats.
SPOOL_DUPLICATES_SQL = """
    SELECT sku, lines, sum(cardinality(lines) - 1) OVER () AS repeats
      FROM (SELECT sku, array_agg(line ORDER BY line) AS lines
              FROM product_import_spool GROUP BY sku HAVING count(*) > 1) AS d
     ORDER BY lines[1]
     LIMIT %(limit)s
"""
# Every sku once (a repeat fails the index, then SPOOL_DUPLICATES_SQL names them); the index
# and statistics make each chunk a range scan.
SPOOL_INDEX_SQL = """
    CREATE UNIQUE INDEX ON product_import_spool (sku);
    ANALYZE product_import_spool
"""
# The chunks, in sku order (the lock order of every import): the last sku of each and
# the rows read up to it.
SPOOL_CHUNKS_SQL = """
    SELECT sku, n FROM (SELECT sku, row_number() OVER (ORDER BY sku) AS n, count(*) OVER () AS total
                          FROM product_import_spool) AS s
     WHERE n %% %(chunk)s = 0 OR n = total
     ORDER BY n
"""
IMPORT_CHUNK_SQL = _IMPORT_FROM.format(
    source="""(SELECT * FROM product_import_spool
                WHERE (%(after)s::text IS NULL OR sku > %(after)s) AND sku <= %(upto)s) AS s"""
)
SPOOL_DROP_SQL = "DROP TABLE IF EXISTS product_import_spool"

# The products as they are, without a write: each event carries the current version and,
# as occurred_at, the product's last change (so the catalog's lag figure stays true).
_RESEND = """
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', updated_at, products_event_data(p)
      FROM products_product AS p
     WHERE {where}
     ORDER BY id{limit}
"""
# Given products (the admin action, the drift repair).
RESYNC_SQL = _RESEND.format(where="id = ANY(%(ids)s::bigint[])", limit="")
# Every product, a batch at a time: the next %(limit)s products after id %(after)s, read by a
# range of the primary key; it answers how many events it wrote and the last id, where the
# next batch starts. Sorting is off, so the plan stays an ordered scan of the key whatever the
# statistics say (a table just imported has none: a sort of the whole table per batch else).
_RESYNC_AFTER = """
    SET LOCAL enable_sort TO OFF;
    WITH events AS ({resend} RETURNING product_id)
    SELECT count(*), max(product_id) FROM events
"""
RESYNC_AFTER_SQL = _RESYNC_AFTER.format(resend=_RESEND.format(where="id > %(after)s", limit=" LIMIT %(limit)s"))
