"""The Docker engine of the compose suite, and the stand-in base images it builds.

The suite uses the engine that answers on the default socket; when none does, it
starts ``dockerd`` (as root, without iptables: this machine has no NAT, so a build
step that reaches the package index runs on the host network) and stops that one
process, by its pid, at the end.

No image registry is reachable here, so the three base images docker-compose.yml
names are made from Debian packages (README.md beside this file): one Debian
bookworm root file system (debootstrap, imported), then a Python, a PostgreSQL and a
RabbitMQ image built on it from ``images/``. Each is tagged with a hash of what it is
made from and kept in the engine: a later run finds it and builds nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testkit.paths import ARTIFACTS
from testkit.waiting import wait_until

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
LOGS = ARTIFACTS / "compose"
REPOSITORY = "product-sync-test"
# The host's CA bundle: pip in a build container verifies the package index with it.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm"]
# The legacy builder: BuildKit would fetch its Dockerfile frontend from a registry.
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}


def docker(
    *args: str, timeout: float = 120, check: bool = True, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} … failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def engine_answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@contextlib.contextmanager
def docker_engine() -> Iterator[str]:
    """The engine's version; dockerd started (and afterwards stopped) only if none answers."""
    if engine_answers():
        yield docker("info", "--format", "{{.ServerVersion}}").stdout.strip()
        return
    if os.geteuid() != 0:
        raise RuntimeError("no Docker engine answers and only root can start dockerd")
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: apt-get install docker.io docker-compose debootstrap")
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / "dockerd.log").open("ab")
    process = subprocess.Popen(
        ["dockerd", "--iptables=false", "--ip-masq=false"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until(
            lambda: process.poll() is None and engine_answers(), timeout=90, interval=0.5, what="dockerd answers"
        )
        yield docker("info", "--format", "{{.ServerVersion}}").stdout.strip()
    finally:
        # Only the daemon this suite started, by its pid; it stops its containerd itself.
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        log.close()


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False, timeout=30).returncode == 0


def content_hash(*parts: str | Path) -> str:
    """A short hash of strings and of files' names and contents (a directory: every file in it)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(f for f in part.rglob("*") if f.is_file()) if part.is_dir() else [part]
            for file in files:
                digest.update(str(file.relative_to(part) if part.is_dir() else file.name).encode())
                digest.update(file.read_bytes())
        else:
            digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


@dataclass
class BaseImages:
    """Tags of the stand-ins, and what building them cost in this run (0 when cached)."""

    debian: str
    python: str
    postgres: str
    rabbitmq: str
    built_seconds: float
    built: list[str]


def build_debian(tag: str) -> None:
    """A minimal Debian bookworm with Python 3.11, from Debian's archive, imported as an image."""
    with tempfile.TemporaryDirectory(prefix="product-sync-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        log = LOGS / "debootstrap.log"
        with log.open("wb") as out:
            subprocess.run(
                [*DEBOOTSTRAP, str(root), DEBIAN_MIRROR], stdout=out, stderr=subprocess.STDOUT, timeout=900, check=True
            )
        # What Debian's own container images do: no package caches, no services started by apt.
        for path in (root / "var/cache/apt/archives").glob("*.deb"):
            path.unlink()
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            docker("import", "--change", 'CMD ["bash"]', "-", tag, stdin=tar.stdout, timeout=300)
        finally:
            tar.stdout.close()
            tar.wait(timeout=60)


def build_from(directory: Path, tag: str, base: str, extra_files: dict[str, Path] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="product-sync-image-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(directory, context)
        for name, source in (extra_files or {}).items():
            shutil.copy(source, context / name)
        log = LOGS / f"build-{directory.name}.log"
        result = docker(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            tag,
            str(context),
            timeout=900,
            check=False,
            env=BUILD_ENV,
        )
        log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"building {tag} failed; see {log}:\n{result.stderr[-3000:]}")


def drop_older_tags(repository: str, keep: str) -> None:
    """Earlier versions of a stand-in (another hash) are of no use any more."""
    listed = docker("image", "ls", repository, "--format", "{{.Repository}}:{{.Tag}}", timeout=30).stdout.split()
    for tag in listed:
        if tag != keep:
            docker("image", "rm", tag, check=False, timeout=60)


def base_images() -> BaseImages:
    """The stand-ins, built if this engine does not hold the current version of each yet."""
    LOGS.mkdir(parents=True, exist_ok=True)
    started, built = time.monotonic(), []
    debian = f"{REPOSITORY}/debian:bookworm-{content_hash(json.dumps(DEBOOTSTRAP), DEBIAN_MIRROR, 'policy-rc.d')}"
    if not image_exists(debian):
        build_debian(debian)
        built.append(debian)
    tags = {}
    for name in ("python", "postgres", "rabbitmq"):
        extra = {"ca-certificates.crt": HOST_CA_BUNDLE} if name == "python" else {}
        tag = f"{REPOSITORY}/{name}:{content_hash(debian, IMAGES / name, *extra.values())}"
        if not image_exists(tag):
            build_from(IMAGES / name, tag, debian, extra)
            built.append(tag)
        tags[name] = tag
    for name, tag in {"debian": debian, **tags}.items():
        drop_older_tags(f"{REPOSITORY}/{name}", tag)
    return BaseImages(debian=debian, built_seconds=time.monotonic() - started if built else 0.0, built=built, **tags)


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
