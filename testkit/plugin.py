"""The toolkit's pytest plugin, loaded in every suite (pyproject.toml: ``addopts = -p testkit.plugin``).

Fixtures for the suites that start real processes (tests/ at the root) and for the
Django suites alike; with pytest-django active it adds ``testkit.django_fixtures``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from testkit import broker as rabbit
from testkit.broker import Broker, ThrowawayBroker, Vhost, temporary_vhost
from testkit.postgres import create_database, drop_database, pg_url
from testkit.processes import run_manage
from testkit.stacks import StackFactory
from testkit.users import STAFF_PASSWORD, STAFF_USER


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("django"):
        from testkit import django_fixtures

        config.pluginmanager.register(django_fixtures, "testkit.django_fixtures")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item (``item.rep_call``): teardown shows logs of a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def call_failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and bool(report.failed)


# --- the broker ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_broker() -> Broker:
    """The machine's RabbitMQ (never stopped or reconfigured by a test)."""
    return Broker()


@pytest.fixture(scope="module")
def vhost(shared_broker: Broker) -> Iterator[Vhost]:
    """A vhost of this test module on the shared broker, deleted with everything in it afterwards."""
    with temporary_vhost(shared_broker, "test") as made:
        yield made


@pytest.fixture
def fresh_vhost(shared_broker: Broker) -> Iterator[Vhost]:
    """A vhost of this test alone."""
    with temporary_vhost(shared_broker, "test") as made:
        yield made


@pytest.fixture
def throwaway_broker() -> Iterator[ThrowawayBroker]:
    """A RabbitMQ node of this test's own: it may stop, block or kill it."""
    with rabbit.throwaway_broker() as broker:
        yield broker


# --- databases and stacks -----------------------------------------------------------------


@pytest.fixture(scope="session")
def db_templates() -> Iterator[tuple[str, str]]:
    """Both schemas migrated once, with the staff user; each stack copies them (CREATE DATABASE … TEMPLATE)."""
    suffix = uuid.uuid4().hex[:8]
    admin_tpl, catalog_tpl = f"tpl_admin_{suffix}", f"tpl_catalog_{suffix}"
    create_database(admin_tpl)
    create_database(catalog_tpl)
    try:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "ADMIN_DATABASE_URL": pg_url(admin_tpl),
            "CATALOG_DATABASE_URL": pg_url(catalog_tpl),
            "DJANGO_SUPERUSER_USERNAME": STAFF_USER,
            "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "staff@example.com",
        }
        for project in ("admin", "catalog"):
            for args in (["migrate", "--noinput"], ["createsuperuser", "--noinput"]):
                run_manage(project, *args, env=env, timeout=180)
        yield admin_tpl, catalog_tpl
    finally:
        drop_database(admin_tpl)
        drop_database(catalog_tpl)


@pytest.fixture
def make_stack(request: pytest.FixtureRequest, shared_broker: Broker) -> Iterator[StackFactory]:
    """Build stacks (own databases and vhost) for this test: ``make_stack()``, ``make_stack(broker)``,
    see ``StackFactory.__call__``. Everything is torn down after the test; a failed test prints the
    last lines of each process's log. Stacks are named after the suite (the test's directory)."""
    factory = StackFactory(
        kind=request.node.path.parent.name,
        test_name=request.node.name,
        shared_broker=shared_broker,
        templates=lambda: request.getfixturevalue("db_templates"),
    )
    yield factory
    factory.close(failed=call_failed(request))
