"""The test toolkit: one set of helpers for every suite (admin, catalog, tests/ at the root, bench/).

Installed with the project (``pip install -e .``), so ``import testkit`` works from any
directory. Small modules, one job each:

- ``paths``: the repository, start scripts, test artifacts, free ports.
- ``waiting``: ``wait_until``, the one way to wait for a condition.
- ``postgres``, ``pgcluster``: databases on the shared server; a throw-away cluster.
- ``broker``: RabbitMQ nodes, vhosts, channels, queue depth and draining; a throw-away node.
- ``events``: product events, wire events and envelopes.
- ``messages``: Celery task messages and dead letters as they travel on the broker.
- ``users``: the staff user and password of the tests, HTTP Basic headers.
- ``http``: waiting for a web process, a staff session on the admin.
- ``processes``: one started process and its log; ``manage.py`` runs.
- ``stack``, ``state``, ``stacks``: two databases, a vhost and the processes of one test.
- ``fake_catalog``: the catalog's read API on a real local socket, for the admin's tests.
- ``admin_actions``, ``probe``: run in a fresh interpreter (``python -m testkit.…``).
- ``plugin``, ``django_fixtures``: the pytest fixtures (loaded by pyproject's addopts).

Importing ``testkit`` imports nothing else: the probe must see only what it imports.
"""
