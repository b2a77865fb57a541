"""Schemathesis over a service's own OpenAPI schema (``/api/schema/``), in process through WSGI.

Its pytest plugin does not run under this pytest, so the operations are looped over here:
every operation is called with generated data; no 5xx, and every response matches its schema.
The fixture ``keep_the_test_connection`` (testkit.django_fixtures) lets the requests share the
test's transaction.
"""

from __future__ import annotations

import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance


def call_every_operation(headers: dict[str, str] | None = None, examples: int = 10) -> set[str]:
    """Call each operation of the schema ``examples`` times; return the paths it documents."""
    auth = {"headers": headers} if headers else {}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), **auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(**auth, checks=[not_a_server_error, response_schema_conformance])

        call()
    return {operation.path for operation in operations}
