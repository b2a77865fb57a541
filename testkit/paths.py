"""Where things are: the repository, the start scripts, the test artifacts; a free local port."""

from __future__ import annotations

import shutil
import socket
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = REPO / "docker" / "start"
ARTIFACTS = REPO / "test-artifacts"
SERVICE_DIRS = {"admin": REPO / "admin_app", "catalog": REPO / "catalog_worker"}


def fresh_log_dir(kind: str, name: str) -> tuple[str, Path]:
    """A new random suffix and an empty ``test-artifacts/<kind>/<name>-<suffix>/`` for a stack's logs."""
    suffix = uuid.uuid4().hex[:8]
    log_dir = ARTIFACTS / kind / f"{name}-{suffix}"
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.mkdir(parents=True)
    return suffix, log_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
