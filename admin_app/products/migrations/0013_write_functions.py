"""A product's change and its outbox event, written by one PL/pgSQL function call each.

PostgreSQL keeps the plan of a function's statement for the session: the statement sent as
text was parsed and planned at every change, about a quarter of the writing backend's CPU
per change (docs/decisions/0029-write-functions.md). Each function is the statement it
replaces, unchanged; ``INTO STRICT`` makes a missing product an error, never a silent no-op.
``products.sql`` calls them.
"""

from django.db import migrations

FIELDS = "p_sku text, p_title text, p_description text, p_price numeric, p_image_url text, p_is_active boolean"


def _function(signature: str, written: str, version: str, op: str) -> str:
    """A function writing the ``written`` CTE and its event, answering the product's id."""
    return f"""
CREATE FUNCTION {signature} RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    written_id bigint;
BEGIN
    WITH written AS ({written}
    )
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, {version}, '{op}', p_now, products_event_data(written) FROM written
    RETURNING product_id INTO STRICT written_id;
    RETURN written_id;
END;
$$;
"""


CREATE = (
    _function(
        f"products_create({FIELDS}, p_version bigint, p_now timestamptz)",
        """
        INSERT INTO products_product (sku, title, description, price, image_url, is_active, version, created_at,
                                      updated_at)
        VALUES (p_sku, p_title, p_description, p_price, p_image_url, p_is_active, p_version, p_now, p_now)
        RETURNING *""",
        "version",
        "upsert",
    )
    + _function(
        f"products_update(p_id bigint, {FIELDS}, p_version bigint, p_now timestamptz)",
        """
        UPDATE products_product
           SET sku = p_sku, title = p_title, description = p_description, price = p_price,
               image_url = p_image_url, is_active = p_is_active, version = p_version, updated_at = p_now
         WHERE id = p_id
        RETURNING *""",
        "version",
        "upsert",
    )
    # The delete event carries the version one up: the catalog keeps it as a tombstone.
    + _function(
        "products_delete(p_id bigint, p_now timestamptz)",
        "DELETE FROM products_product WHERE id = p_id RETURNING *",
        "version + 1",
        "delete",
    )
)

DROP = f"""
DROP FUNCTION IF EXISTS products_create({FIELDS}, p_version bigint, p_now timestamptz);
DROP FUNCTION IF EXISTS products_update(p_id bigint, {FIELDS}, p_version bigint, p_now timestamptz);
DROP FUNCTION IF EXISTS products_delete(p_id bigint, p_now timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [("products", "0012_notify_only_when_no_relay_promised_a_round")]

    operations = [migrations.RunSQL(CREATE, DROP)]
