"""docker-compose.yml, checked without a Docker engine: schema, resolution, and what it promises."""

import os
import re
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.deploy.compose import (
    CLUSTER_SETTINGS,
    REPO,
    TEST_SECRETS,
    app_services,
    compose_text,
    environment,
    load_compose,
    load_schema,
    procfile,
    required_compose_variables,
    resolve,
    resolved,
)

pytestmark = pytest.mark.timeout(120)

PROCESS_SERVICES = {"admin-web", "admin-relay", "catalog-web", "catalog-worker", "catalog-beat", "flower"}
ONE_SHOTS = {"migrate", "rabbitmq-init"}
BROKERS = {"rabbitmq", "rabbitmq-2", "rabbitmq-3"}
DATABASES = {"admin-db": "admin_app", "catalog-db": "catalog"}
# The public interface of docs/deployment.md ("What is published"): what is published, and where.
PUBLISHED = {
    "admin-web": ["127.0.0.1:8000:8000"],
    "catalog-web": ["127.0.0.1:8001:8001"],
    "flower": ["127.0.0.1:5555:5555"],
    "rabbitmq": ["127.0.0.1:15672:15672"],
}
# Which broker user each service connects as (docker/rabbitmq/provision.py creates them).
BROKER_USERS = {
    "admin-web": "product_admin",
    "admin-relay": "product_admin",
    "migrate": "product_admin",
    "catalog-web": "catalog_web",
    "catalog-worker": "catalog",
    "catalog-beat": "catalog",
    "flower": "flower",
}


@pytest.fixture(scope="module")
def config():
    return resolved(TEST_SECRETS)


@pytest.fixture(scope="module")
def cluster_config():
    return resolved({**TEST_SECRETS, **CLUSTER_SETTINGS})


def test_the_file_follows_the_compose_specification():
    validator = jsonschema.Draft7Validator(load_schema())
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(load_compose())]
    assert errors == []
    # The schema does reject what is not compose, so the pass above means something.
    broken = load_compose()
    broken["services"]["catalog-worker"]["replica"] = 3
    assert not validator.is_valid(broken)


def test_it_resolves_with_every_secret_set_and_in_the_cluster_profile(config, cluster_config):
    expected = PROCESS_SERVICES | ONE_SHOTS | BROKERS | set(DATABASES)
    assert set(config["services"]) == expected
    assert set(cluster_config["services"]) == expected
    assert load_compose()["services"]["rabbitmq-2"]["profiles"] == ["cluster"]
    assert load_compose()["services"]["rabbitmq-3"]["profiles"] == ["cluster"]
    assert "profiles" not in load_compose()["services"]["rabbitmq"]


@pytest.mark.parametrize("name", sorted(TEST_SECRETS))
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_compose_refuses_to_start_without_a_required_secret(name, how):
    env = dict(TEST_SECRETS)
    if how == "unset":
        del env[name]
    else:
        env[name] = ""
    result = resolve(env)
    assert result.returncode != 0
    assert f"set {name}" in result.stderr, result.stderr


def test_every_secret_is_required_and_none_has_a_default():
    text = compose_text()
    assert required_compose_variables(text) == set(TEST_SECRETS)
    secret_like = re.compile(r"(PASSWORD|SECRET_KEY|COOKIE|BASIC_AUTH|_PASS)$")
    for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:?-]", text):
        if secret_like.search(name):
            # ${VAR:-} (optional, empty when unset) is allowed; ${VAR:-value} would be a default secret.
            assert not re.search(r"\$\{" + name + r":?-[^}]", text), f"{name} has a default value"
    # Credentials in URLs come from variables, never literally.
    credentials = re.findall(r"(?:amqp|postgres)://([^:/@\s]+):(..)", text)
    # Four broker users x three nodes; three service database URLs, two superuser URLs (migrate).
    assert len(credentials) == 4 * 3 + 3 + 2
    assert {start for _user, start in credentials} == {"${"}
    assert "guest" not in text


def test_only_the_documented_ports_are_published_on_localhost(config):
    published = {name: s["ports"] for name, s in config["services"].items() if s.get("ports")}
    assert published == {name: [f"{port}/tcp" for port in ports] for name, ports in PUBLISHED.items()}
    for service in config["services"].values():
        assert "network_mode" not in service
        assert "expose" not in service
    # The host side can move (a port already taken), never off 127.0.0.1.
    moved = resolved({**TEST_SECRETS, "ADMIN_HOST_PORT": "18000", "BROKER_MANAGEMENT_HOST_PORT": "25673"})
    assert moved["services"]["admin-web"]["ports"] == ["127.0.0.1:18000:8000/tcp"]
    assert moved["services"]["rabbitmq"]["ports"] == ["127.0.0.1:25673:15672/tcp"]


def test_production_settings_and_debug_off_everywhere(config):
    for name, service in app_services(config).items():
        env = environment(service)
        if name in ("rabbitmq-init", "flower"):
            continue  # flower: its own settings, below
        project = "admin_project" if name.startswith("admin") or name == "migrate" else "catalog_project"
        assert env["DJANGO_SETTINGS_MODULE"] == f"{project}.settings.production", name
        assert env.get("DJANGO_DEBUG", "0") == "0", name
        key = "ADMIN_DJANGO_SECRET_KEY" if project == "admin_project" else "CATALOG_DJANGO_SECRET_KEY"
        assert env["DJANGO_SECRET_KEY"] == TEST_SECRETS[key], name
        assert env["CATALOG_SYNC_API_TOKEN"] == TEST_SECRETS["CATALOG_SYNC_API_TOKEN"], name


def test_each_process_runs_its_start_script_the_one_the_local_runner_uses(config):
    services = app_services(config)
    assert set(services) == PROCESS_SERVICES | ONE_SHOTS
    assert set(procfile()) == PROCESS_SERVICES
    for name in PROCESS_SERVICES | {"migrate"}:
        command = services[name]["command"]
        assert command == [f"docker/start/{name}"], name
        script = REPO / command[0]
        assert script.is_file(), script
        assert os.access(script, os.X_OK), script
        if name != "migrate":
            assert procfile()[name] == command[0], name
    # make run runs the same set-up script before the Procfile.
    assert "docker/start/migrate" in (REPO / "scripts" / "run-local").read_text()
    provision = REPO / services["rabbitmq-init"]["command"][0]
    assert provision == REPO / "docker" / "rabbitmq" / "provision.py"
    assert os.access(provision, os.X_OK)
    # Nothing waits by sleeping: order comes from depends_on conditions.
    assert "sleep" not in compose_text()


def test_dependencies_wait_for_health_or_completion(config, cluster_config):
    for cfg in (config, cluster_config):
        services = cfg["services"]
        for name, service in services.items():
            for dependency, spec in (service.get("depends_on") or {}).items():
                condition = spec["condition"]
                assert condition in ("service_healthy", "service_completed_successfully"), (name, dependency)
                if condition == "service_healthy":
                    assert "healthcheck" in services[dependency], dependency
                else:
                    assert dependency in ONE_SHOTS, dependency
                    assert services[dependency]["restart"] == "no", dependency
    services = config["services"]
    for name in PROCESS_SERVICES:
        needs = set(services[name]["depends_on"])
        assert "migrate" in needs or name == "flower", name
        if name in ("admin-relay", "catalog-worker", "catalog-beat", "flower"):
            assert "rabbitmq-init" in needs, name
    # migrate's start-up self-check logs in to the broker: after rabbitmq-init.
    assert set(services["migrate"]["depends_on"]) == {*DATABASES, "rabbitmq-init"}
    assert set(services["rabbitmq-init"]["depends_on"]) == {"rabbitmq"}


def test_every_long_running_service_has_a_health_check(config):
    services = config["services"]
    checks = {name: services[name]["healthcheck"]["test"] for name in PROCESS_SERVICES}
    assert checks == {
        "admin-web": ["CMD", "docker/healthcheck", "http", "http://127.0.0.1:8000/readyz"],
        "catalog-web": ["CMD", "docker/healthcheck", "http", "http://127.0.0.1:8001/readyz"],
        "flower": ["CMD", "docker/healthcheck", "http", "http://127.0.0.1:5555/healthcheck"],
        "admin-relay": ["CMD", "docker/healthcheck", "relay"],
        "catalog-worker": ["CMD", "docker/healthcheck", "worker"],
        "catalog-beat": ["CMD", "docker/healthcheck", "beat"],
    }
    for name in (*BROKERS & set(services), *DATABASES):
        assert "healthcheck" in services[name], name
    assert os.access(REPO / "docker" / "healthcheck", os.X_OK)
    # Beat answers the health check's ping only when started with remote control.
    assert "--enable-remote-control" in (REPO / "docker" / "start" / "catalog-beat").read_text()


def test_images_default_to_the_official_ones_and_can_be_replaced(config):
    services = config["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["admin-db"]["image"] == services["catalog-db"]["image"] == "postgres:15"
    assert {s["build"]["args"]["PYTHON_IMAGE"] for s in app_services(config).values()} == {"python:3.11-slim-bookworm"}
    other = resolved(
        {**TEST_SECRETS, "RABBITMQ_IMAGE": "r:1", "POSTGRES_IMAGE": "p:1", "PYTHON_IMAGE": "y:1", "APP_IMAGE": "a:1"}
    )["services"]
    assert (other["rabbitmq"]["image"], other["admin-db"]["image"], other["migrate"]["image"]) == ("r:1", "p:1", "a:1")
    assert other["migrate"]["build"]["args"]["PYTHON_IMAGE"] == "y:1"


def test_one_user_defined_network_for_everything(config):
    assert list(config["networks"]) == ["sync"]
    for name, service in config["services"].items():
        assert list(service["networks"]) == ["sync"], name


def test_the_worker_scales_and_nothing_has_a_fixed_container_name(config):
    worker = config["services"]["catalog-worker"]
    assert "ports" not in worker
    assert "hostname" not in worker
    for name, service in config["services"].items():
        assert "container_name" not in service, name


def test_brokers_have_fixed_host_names_volumes_users_and_health_checks(config, cluster_config):
    services = cluster_config["services"]
    cluster_conf = (REPO / "docker" / "rabbitmq" / "cluster.conf").read_text()
    listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$", cluster_conf, re.MULTILINE)
    assert listed == [f"rabbit@{name}" for name in sorted(BROKERS)]
    for name in BROKERS:
        broker = services[name]
        assert broker["image"].startswith("rabbitmq:")
        assert broker["image"].endswith("-management")
        assert broker["hostname"] == name
        assert "healthcheck" in broker
        mounts = {v.split(":")[1]: v.split(":")[0] for v in broker["volumes"]}
        assert "/var/lib/rabbitmq" in mounts
        assert mounts["/etc/rabbitmq/conf.d/30-product-sync.conf"].endswith("docker/rabbitmq/rabbitmq.conf")
        assert mounts["/etc/rabbitmq/enabled_plugins"].endswith("docker/rabbitmq/enabled_plugins")
        has_cluster_conf = "/etc/rabbitmq/conf.d/40-cluster.conf" in mounts
        assert has_cluster_conf == (name != "rabbitmq"), name
        env = environment(broker)
        assert env["RABBITMQ_DEFAULT_USER"] == "operator"
        assert env["RABBITMQ_DEFAULT_PASS"] == TEST_SECRETS["BROKER_OPERATOR_PASSWORD"]
        assert env["RABBITMQ_ERLANG_COOKIE"] == TEST_SECRETS["BROKER_ERLANG_COOKIE"]
        for source in mounts.values():
            if source.startswith("/"):
                assert (REPO / os.path.relpath(source, REPO)).is_file(), source
    assert "management" in (REPO / "docker" / "rabbitmq" / "enabled_plugins").read_text()
    assert environment(cluster_config["services"]["rabbitmq-init"])["BROKER_CLUSTER_SIZE"] == "3"
    assert environment(config["services"]["rabbitmq-init"])["BROKER_CLUSTER_SIZE"] == "1"


def test_databases_are_postgres_with_volumes_and_health_checks(config):
    for name, database in DATABASES.items():
        service = config["services"][name]
        assert service["image"].startswith("postgres:")
        assert any(v.endswith(":/var/lib/postgresql/data:rw") for v in service["volumes"])
        assert "pg_isready" in service["healthcheck"]["test"]
        env = environment(service)
        # The server's superuser is not the service's role; the role is created by migrate.
        assert env["POSTGRES_USER"] == "postgres", name
        assert env["POSTGRES_PASSWORD"] == TEST_SECRETS[f"{database.split('_')[0].upper()}_DB_SUPERUSER_PASSWORD"]
        assert "POSTGRES_DB" not in env, name
    admin_url = urlsplit(environment(config["services"]["admin-relay"])["ADMIN_DATABASE_URL"])
    catalog_url = urlsplit(environment(config["services"]["catalog-worker"])["CATALOG_DATABASE_URL"])
    assert (admin_url.hostname, admin_url.path, admin_url.password) == (
        "admin-db",
        "/admin_app",
        TEST_SECRETS["ADMIN_DB_PASSWORD"],
    )
    assert (catalog_url.hostname, catalog_url.path, catalog_url.password) == (
        "catalog-db",
        "/catalog",
        TEST_SECRETS["CATALOG_DB_PASSWORD"],
    )


def broker_urls(service) -> list:
    return [urlsplit(url) for url in environment(service)["CELERY_BROKER_URL"].split(";")]


def test_each_service_has_its_own_broker_user_on_every_node(config, cluster_config):
    for cfg, hosts in ((config, ["rabbitmq"] * 3), (cluster_config, ["rabbitmq", "rabbitmq-2", "rabbitmq-3"])):
        for name, user in BROKER_USERS.items():
            urls = broker_urls(cfg["services"][name])
            assert [u.hostname for u in urls] == hosts, name
            assert {(u.scheme, u.username, u.port, u.path) for u in urls} == {("amqp", user, 5672, "/product_sync")}
    password_of = {
        "product_admin": "BROKER_ADMIN_PASSWORD",
        "catalog": "BROKER_CATALOG_PASSWORD",
        "catalog_web": "BROKER_CATALOG_WEB_PASSWORD",
        "flower": "BROKER_FLOWER_PASSWORD",
    }
    for name, user in BROKER_USERS.items():
        assert {u.password for u in broker_urls(config["services"][name])} == {TEST_SECRETS[password_of[user]]}
    # The users the URLs name are the ones the broker's set-up creates.
    provision = (REPO / "docker" / "rabbitmq" / "provision.py").read_text()
    assert set(re.findall(r'ServiceUser\("(\w+)"', provision)) == set(BROKER_USERS.values())


def test_the_admin_reaches_the_catalog_api_by_its_service_name(config):
    services = config["services"]
    for name in ("admin-web", "admin-relay"):
        url = urlsplit(environment(services[name])["CATALOG_API_URL"])
        assert (url.hostname, url.port) == ("catalog-web", 8001), name
    assert "catalog-web" in environment(services["catalog-web"])["DJANGO_ALLOWED_HOSTS"].split(",")
    assert "127.0.0.1" in environment(services["catalog-web"])["DJANGO_ALLOWED_HOSTS"].split(",")


def test_volumes_keep_what_must_survive_a_restart(config):
    services = config["services"]
    assert any(v.startswith("flower-data:/app/var/flower") for v in services["flower"]["volumes"])
    assert environment(services["flower"])["FLOWER_DB"].startswith("/app/var/flower/")
    assert any(v.startswith("beat-data:/app/var/celery") for v in services["catalog-beat"]["volumes"])
    assert environment(services["catalog-beat"])["CELERY_BEAT_SCHEDULE_FILE"].startswith("/app/var/celery/")
    for name in ("admin-web", "catalog-web", "flower"):
        # Inside its container, on the compose network; published on 127.0.0.1 only (above).
        assert environment(services[name])["BIND_HOST"] == "0.0.0.0", name  # noqa: S104


# What each service may hold: the database URL and secrets of its own service only.
OWN_DATABASE = {
    "admin-web": "ADMIN_DATABASE_URL",
    "admin-relay": "ADMIN_DATABASE_URL",
    "catalog-web": "CATALOG_DATABASE_URL",
    "catalog-worker": "CATALOG_DATABASE_URL",
    "catalog-beat": "CATALOG_DATABASE_URL",
}


def test_each_service_connects_as_its_own_database_role_never_the_superuser(config):
    services = config["services"]
    superuser_urls = {"ADMIN_DATABASE_SUPERUSER_URL", "CATALOG_DATABASE_SUPERUSER_URL"}
    for name, service in app_services(config).items():
        env = environment(service)
        urls = {key for key, value in env.items() if value.startswith("postgres://")}
        if name == "migrate":
            assert urls == {"ADMIN_DATABASE_URL", "CATALOG_DATABASE_URL", *superuser_urls}
            for key in superuser_urls:
                url = urlsplit(env[key])
                assert (url.username, url.path) == ("postgres", "/postgres"), key
        elif name in ("flower", "rabbitmq-init"):
            assert urls == set(), name
        else:
            assert urls == {OWN_DATABASE[name]}, name
        for key in urls - superuser_urls:
            user = urlsplit(env[key]).username
            assert user == ("admin_app" if key.startswith("ADMIN") else "catalog"), (name, key)
    # Flower: no database, no Django secret key, no sync token, settings that need none.
    flower = environment(services["flower"])
    assert flower["DJANGO_SETTINGS_MODULE"] == "catalog_project.settings.flower"
    assert not {"DJANGO_SECRET_KEY", "CATALOG_SYNC_API_TOKEN"} & set(flower)
    assert not {value for value in flower.values() if value in TEST_SECRETS.values()} - {
        TEST_SECRETS["FLOWER_BASIC_AUTH"]
    }
