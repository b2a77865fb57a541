"""The statements that write products and their outbox events, as they run.

Each change and its event are one statement: the product is written in the ``written``
CTE and its event inserted from what that returned, so neither exists without the
other, in one round trip. ``products_event_data(product)`` (a SQL function, migration
0008) builds the event's data: the product's fields as the contract carries them.
"""

CREATE_SQL = """
    WITH written AS (
        INSERT INTO products_product (sku, title, description, price, image_url, is_active, version, created_at,
                                      updated_at)
        VALUES (%(sku)s, %(title)s, %(description)s, %(price)s, %(image_url)s, %(is_active)s, %(version)s,
                %(now)s, %(now)s)
        RETURNING *
    )
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', %(now)s, products_event_data(written) FROM written
    RETURNING product_id
"""

UPDATE_SQL = """
    WITH written AS (
        UPDATE products_product
           SET sku = %(sku)s, title = %(title)s, description = %(description)s, price = %(price)s,
               image_url = %(image_url)s, is_active = %(is_active)s, version = %(version)s, updated_at = %(now)s
         WHERE id = %(id)s
        RETURNING *
    )
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', %(now)s, products_event_data(written) FROM written
    RETURNING product_id
"""

# The delete event carries the version one up: the catalog keeps it as a tombstone.
DELETE_SQL = """
    WITH written AS (DELETE FROM products_product WHERE id = %(id)s RETURNING *)
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version + 1, 'delete', %(now)s, products_event_data(written) FROM written
    RETURNING product_id
"""

# A whole import batch in one statement: upsert by sku (version 1 when new, version + 1
# when known) and one event per written row. The batch travels as one json parameter.
IMPORT_SQL = """
    WITH batch AS (
        SELECT * FROM json_to_recordset(%(rows)s::json) AS b(
            sku text, title text, description text, price numeric, image_url text, is_active boolean)
    ), written AS (
        INSERT INTO products_product AS p
               (sku, title, description, price, image_url, is_active, version, created_at, updated_at)
        SELECT sku, title, description, price, image_url, is_active, 1, %(now)s, %(now)s FROM batch
        ON CONFLICT (sku) DO UPDATE
           SET title = EXCLUDED.title, description = EXCLUDED.description, price = EXCLUDED.price,
               image_url = EXCLUDED.image_url, is_active = EXCLUDED.is_active,
               version = p.version + 1, updated_at = EXCLUDED.updated_at
        RETURNING p.*
    )
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', %(now)s, products_event_data(written) FROM written
    RETURNING version
"""

# The products as they are, without a write: each event carries the current version and,
# as occurred_at, the product's last change (so the catalog's lag figure stays true).
RESYNC_SQL = """
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', updated_at, products_event_data(p)
      FROM products_product AS p
     WHERE id = ANY(%(ids)s::bigint[])
     ORDER BY id
"""
