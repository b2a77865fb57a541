import re
import subprocess
import sys
import uuid

import pytest

from tests.system.harness import (
    RABBIT_PORT,
    REPO,
    STAFF_PASSWORD,
    STAFF_USER,
    Broker,
    Stack,
    ThrowawayBroker,
    create_database,
    drop_database,
    fresh_log_dir,
    pg_url,
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def db_templates():
    """Both schemas migrated once; each test copies them (CREATE DATABASE … TEMPLATE)."""
    suffix = uuid.uuid4().hex[:8]
    admin_tpl, catalog_tpl = f"systpl_admin_{suffix}", f"systpl_catalog_{suffix}"
    create_database(admin_tpl)
    create_database(catalog_tpl)
    try:
        env = {
            "PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin",
            "ADMIN_DATABASE_URL": pg_url(admin_tpl),
            "CATALOG_DATABASE_URL": pg_url(catalog_tpl),
            "DJANGO_SUPERUSER_USERNAME": STAFF_USER,
            "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "staff@example.com",
        }
        for project in ("admin_app", "catalog_worker"):
            for args in (["migrate", "--noinput"], ["createsuperuser", "--noinput"]):
                subprocess.run(
                    [sys.executable, "manage.py", *args],
                    cwd=REPO / project,
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=180,
                )
        yield admin_tpl, catalog_tpl
    finally:
        drop_database(admin_tpl)
        drop_database(catalog_tpl)


@pytest.fixture(scope="session")
def shared_broker():
    return Broker(port=RABBIT_PORT)


@pytest.fixture
def throwaway_broker():
    broker = ThrowawayBroker()
    broker.start()
    yield broker
    broker.destroy()


@pytest.fixture
def make_stack(request, db_templates, shared_broker):
    """Build stacks (own databases and vhost) for this test; everything is torn down after it."""
    stacks: list[tuple[Stack, Broker]] = []
    test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:80]

    def make(broker: Broker | None = None) -> Stack:
        broker = broker or shared_broker
        suffix, log_dir = fresh_log_dir("system", test_name)
        stack = Stack(
            name=suffix,
            broker=broker,
            admin_db=f"sys_admin_{suffix}",
            catalog_db=f"sys_catalog_{suffix}",
            vhost=f"systest-{suffix}",
            log_dir=log_dir,
        )
        create_database(stack.admin_db, template=db_templates[0])
        create_database(stack.catalog_db, template=db_templates[1])
        broker.add_vhost(stack.vhost)
        stacks.append(stack)
        return stack

    yield make

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for stack in stacks:
        stack.stop_all()
        if failed:
            for process in stack.processes:
                tail = "\n".join(process.log().splitlines()[-40:])
                print(f"\n----- {process.name} (last lines; full log {process.log_path}) -----\n{tail}")
        if stack.broker.node is None:  # throw-away brokers are destroyed whole
            stack.broker.delete_vhost(stack.vhost)
        drop_database(stack.admin_db)
        drop_database(stack.catalog_db)
