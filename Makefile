# Product sync: run it locally, lint it, test it. `make help` lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
# The virtualenv's tools first, for every recipe and every process they start.
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STAMP := $(VENV)/.installed
PYTEST := $(abspath $(VENV))/bin/pytest
# One pytest config (pyproject.toml) and one rootdir for all three suites.
PYTEST_CONFIG := -c $(CURDIR)/pyproject.toml --rootdir $(CURDIR)

.PHONY: help venv lock services migrate run lint test test-admin test-catalog test-system test-compose bench bench-quick bench-scale reliability

help: ## List every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## Create .venv if missing; (re)install from the lock files when they change

# Re-installs whenever a lock file or pyproject.toml is newer than the stamp. The dev
# lock holds every package (runtime included), each with its hashes.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	@touch $@

# Edit requirements.in (runtime, what the image installs) or requirements-dev.in
# (tools), then `make lock`: both lock files are resolved again, for every platform,
# with the hashes of every file; the dev lock keeps the runtime lock's versions.
LOCK := $(abspath $(VENV))/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
lock: venv ## Resolve requirements*.in into the hash-locked requirements*.txt (uv); `make venv` installs them
	$(LOCK) requirements.in --output-file requirements.txt
	$(LOCK) requirements-dev.in --constraint requirements.txt --output-file requirements-dev.txt

services: ## Start the local PostgreSQL and RabbitMQ if they do not answer
	@scripts/ensure-services

migrate: venv services ## Create databases, migrate, collect static files, create the staff user
	docker/start/migrate

run: venv services ## Run everything (honcho + Procfile): admin :8000, catalog :8001, Flower :5555
	@scripts/run-local

# mypy checks each service with its own settings (the Django plugin loads them), then the
# contract and the scripts.
lint: venv ## ruff (lint and format), layering contracts, types (mypy strict), migrations in step with the models
	ruff check .
	ruff format --check .
	PYTHONPATH=admin_app:catalog_worker lint-imports
	cd admin_app && DJANGO_SETTINGS_MODULE=admin_project.settings.test mypy --config-file ../pyproject.toml products sync admin_project
	cd catalog_worker && DJANGO_SETTINGS_MODULE=catalog_project.settings.test mypy --config-file ../pyproject.toml catalog catalog_project
	DJANGO_SETTINGS_MODULE=admin_project.settings.test PYTHONPATH=admin_app mypy --config-file pyproject.toml \
		sync_contract scripts/django_bootstrap.py docker/rabbitmq/provision.py
	cd admin_app && DJANGO_SETTINGS_MODULE=admin_project.settings.test python manage.py makemigrations --check --dry-run
	cd catalog_worker && DJANGO_SETTINGS_MODULE=catalog_project.settings.test python manage.py makemigrations --check --dry-run

test: lint ## Lint, then all three test suites; fails if any suite fails, is missing or is empty
	@status=0; \
	$(MAKE) --no-print-directory test-admin || status=1; \
	$(MAKE) --no-print-directory test-catalog || status=1; \
	$(MAKE) --no-print-directory test-system || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$status

# pytest exits 5 when it collects no test: like any non-zero exit, that fails the target.
# Each app's tests live in the app (<app>/tests/); the fixtures come from testkit/ (pyproject addopts).
ADMIN_TESTS := products/tests sync/tests
CATALOG_TESTS := catalog/tests

test-admin: venv ## admin_app/{products,sync}/tests (pytest-django, admin_project.settings.test)
	@for d in $(ADMIN_TESTS); do compgen -G "admin_app/$$d/test_*.py" >/dev/null || { echo "test-admin: no admin_app/$$d/test_*.py" >&2; exit 1; }; done
	cd admin_app && $(PYTEST) $(PYTEST_CONFIG) --ds=admin_project.settings.test $(ADMIN_TESTS)

test-catalog: venv ## catalog_worker/catalog/tests (pytest-django, catalog_project.settings.test)
	@for d in $(CATALOG_TESTS); do compgen -G "catalog_worker/$$d/test_*.py" >/dev/null || { echo "test-catalog: no catalog_worker/$$d/test_*.py" >&2; exit 1; }; done
	cd catalog_worker && $(PYTEST) $(PYTEST_CONFIG) --ds=catalog_project.settings.test $(CATALOG_TESTS)

test-system: venv ## tests/ at the root but tests/compose: contract, system, deploy and reliability tests (every fault scenario, 6 s load phases)
	@test -d tests || { echo "test-system: tests/ is missing" >&2; exit 1; }
	RELIABILITY_ALL=1 $(PYTEST) $(PYTEST_CONFIG) -p no:django tests --ignore=tests/compose

# Needs a Docker engine or root to start one, docker-compose and debootstrap (.ci/run installs them).
test-compose: venv ## The compose stack built and run for real on a Docker engine (tests/compose; ~10 min cold, ~8 min with the images cached)
	@test -d tests/compose || { echo "test-compose: tests/compose is missing" >&2; exit 1; }
	$(PYTEST) $(PYTEST_CONFIG) -p no:django tests/compose

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(VENV)/bin/pip install --quiet -r bench/requirements.txt
	@touch $@

bench: venv services $(BENCH_STAMP) ## Benchmark, all scenarios (~12 min): bulk, drain, steady, pika reference, memory, API; bench/results/latest.{json,png}
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

bench-quick: venv services $(BENCH_STAMP) ## Benchmark smoke run (~3 min)
	$(VENV)/bin/python -m bench.run --quick $(BENCH_ARGS)

bench-scale: venv services $(BENCH_STAMP) ## A million products (opt-in, ~10 min, ~6 GB free disk): import, drift check, resync, read API; bench/results/scale.{json,png}
	$(VENV)/bin/python -m bench.scale $(BENCH_ARGS)

reliability: venv services ## Fault, bad-input and security suite with 30 s load phases; table in tests/reliability/latest.md
	$(VENV)/bin/python -m tests.reliability.run
