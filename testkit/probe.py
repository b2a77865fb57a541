"""Which modules a fresh interpreter has loaded after importing what a service imports:

    python -m testkit.probe [--django] [--import MODULE]... [--command APP:NAME]... [--celery-app MODULE:ATTR]

With ``--django``, Django is set up first (settings from DJANGO_SETTINGS_MODULE). With
``--celery-app``, that app imports its default modules and the answer says whether it
registered the sync task. Prints one JSON object: {"modules": [...], "registered": bool|null}.
Run from a service's directory: ``-m`` puts it first on the path, so its packages are found.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys


def probe(args: argparse.Namespace) -> dict[str, object]:
    if args.django:
        import django

        django.setup()
    for module in args.imports:
        importlib.import_module(module)
    if args.commands:
        from django.core.management import load_command_class

        for command in args.commands:
            app_name, name = command.split(":")
            load_command_class(app_name, name)
    registered = None
    if args.celery_app:
        from sync_contract import TASK_SYNC_PRODUCTS

        module, attr = args.celery_app.split(":")
        app = getattr(importlib.import_module(module), attr)
        app.loader.import_default_modules()
        registered = TASK_SYNC_PRODUCTS in app.tasks
    return {"modules": sorted(sys.modules), "registered": registered}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m testkit.probe", description=__doc__)
    parser.add_argument("--django", action="store_true")
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--command", dest="commands", action="append", default=[])
    parser.add_argument("--celery-app")
    sys.stdout.write(json.dumps(probe(parser.parse_args())) + "\n")


if __name__ == "__main__":
    main()
