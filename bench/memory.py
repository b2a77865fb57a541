"""Resident memory and CPU time of the system's processes, sampled in a background thread.

Each watched root (the pid a start script became: it ``exec``s its program) is
sampled with all its descendants, every process on its own: the relay is one
process; the catalog worker is Celery's main process plus its prefork pool
children, each of which must stay under its own limit. CPU seconds (user +
system) used between a process's first and last sample say which process was
busy; the machine's own CPU counters (all processes, other users' included) say
how busy the two cores were overall.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 1024 * 1024
PG_PORT = 5432


@dataclass
class Series:
    label: str
    pid: int
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    cpu_first: float = 0.0
    cpu_last: float = 0.0

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_last - self.cpu_first

    @property
    def peak(self) -> float:
        return max(self.rss_mb, default=0.0)

    @property
    def first(self) -> float:
        return self.rss_mb[0] if self.rss_mb else 0.0

    @property
    def last(self) -> float:
        return self.rss_mb[-1] if self.rss_mb else 0.0


# Shared services, by process name: their CPU is the machine's (other users' included).
SERVICE_NAMES = {"postgres": "postgres*", "beam.smp": "rabbitmq*"}


def service_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by each PostgreSQL and RabbitMQ process: pid -> (group, seconds).

    A PostgreSQL backend that exits (e.g. a connection opened for one task) is
    reaped by the postmaster, whose ``children_*`` times then hold its CPU.
    """
    found = {}
    for process in psutil.process_iter(["name"]):
        group = SERVICE_NAMES.get(process.info["name"] or "")
        if group is None:
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds = times.user + times.system
        if group == "postgres*":
            seconds += times.children_user + times.children_system
        found[process.pid] = (group, seconds)
    return found


def service_cpu_used(first: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Per group, CPU used between two snapshots: processes that ended in between are left out
    (a throw-away broker node of someone else's test), ones that started count whole."""
    used = dict.fromkeys(SERVICE_NAMES.values(), 0.0)
    for pid, (group, seconds) in last.items():
        before = first.get(pid)
        used[group] += seconds - (before[1] if before and before[0] == group else 0.0)
    return {group: round(max(0.0, v), 2) for group, v in used.items()}


class RssSampler:
    """Sample VmRSS of each process under the given roots every ``interval`` seconds."""

    def __init__(self, roots: dict[str, int], interval: float = 0.2) -> None:
        self.roots = roots
        self.interval = interval
        self.series: dict[int, Series] = {}
        self.started = 0.0
        self.machine: dict = {}
        self.backends: dict[int, Series] = {}  # PostgreSQL backends of the watched processes
        self._postmasters: list[int] | None = None
        self._not_backends: set[int] = set()  # postgres processes serving no client (postmaster, …)
        self._machine_start = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self.started = time.time()
        self._machine_start = (time.monotonic(), psutil.cpu_times(), service_cpu())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        began, first, services_first = self._machine_start
        last, wall, services_last = psutil.cpu_times(), time.monotonic() - began, service_cpu()
        busy = sum(getattr(last, f) - getattr(first, f) for f in ("user", "system", "nice", "irq", "softirq"))
        idle = (last.idle - first.idle) + (last.iowait - first.iowait)
        self.machine = {
            "wall_seconds": round(wall, 2),
            "cpus": psutil.cpu_count(),
            "busy_cpu_seconds": round(busy, 2),
            "idle_cpu_seconds": round(idle, 2),
            "busy_fraction": round(busy / (busy + idle), 3) if busy + idle else 0.0,
            "services_cpu_seconds": service_cpu_used(services_first, services_last),
            "postgres_cpu_seconds_by_client": self.backend_cpu(),
        }

    def watch(self, role: str, pid: int) -> None:
        """Add a root while sampling (e.g. a relay started after a backlog was committed)."""
        self.roots[role] = pid

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.time() - self.started
            for role, pid in list(self.roots.items()):
                self._sample(role, pid, now)
            self._sample_backends()
            self._stop.wait(self.interval)

    def _sample(self, role: str, pid: int, now: float) -> None:
        try:
            root = psutil.Process(pid)
            children = root.children(recursive=True)
        except psutil.Error:
            return
        for index, process in enumerate([root, *children]):
            try:
                with process.oneshot():
                    rss = process.memory_info().rss / MB
                    cpu = sum(process.cpu_times()[:2])
            except psutil.Error:
                continue
            series = self.series.get(process.pid)
            if series is None:
                label = role if index == 0 else f"{role} child {len(self._children_of(role)) + 1}"
                series = self.series[process.pid] = Series(label=label, pid=process.pid, cpu_first=cpu)
            series.times.append(now)
            series.rss_mb.append(rss)
            series.cpu_last = cpu

    def _sample_backends(self) -> None:
        """CPU of each PostgreSQL backend serving a watched process, found by its client port
        when the backend is first seen. A backend that ends between two samples loses at most
        one interval of CPU."""
        if self._postmasters is None:  # found once: scanning every process each pass costs ~10 ms
            self._postmasters = [
                p.pid
                for p in psutil.process_iter(["name", "ppid"])
                if p.info["name"] == "postgres" and psutil.Process(p.info["ppid"]).name() != "postgres"
            ]
        pids: set[int] = set()
        for postmaster in self._postmasters:
            with contextlib.suppress(OSError):
                pids.update(
                    int(pid) for pid in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
                )
        new = pids - self.backends.keys() - self._not_backends
        if new:
            roles = {series.pid: series.label.split(" ")[0] for series in self.series.values()}
            client_of: dict[int, int] = {}  # client port -> pid, for the watched processes
            served: dict[int, int] = {}  # backend pid -> its client's port
            for c in psutil.net_connections(kind="tcp4"):
                if not c.raddr or c.pid is None:
                    continue
                if c.raddr.port == PG_PORT and c.pid in roles:
                    client_of[c.laddr.port] = c.pid
                elif c.laddr.port == PG_PORT and c.pid in new:
                    served[c.pid] = c.raddr.port
            for pid in new:
                client = client_of.get(served.get(pid, -1))
                if client is None:  # the postmaster, a background process, another client's backend
                    self._not_backends.add(pid)
                    continue
                try:
                    cpu = sum(psutil.Process(pid).cpu_times()[:2])
                except psutil.Error:
                    continue
                self.backends[pid] = Series(label=roles[client], pid=pid, cpu_first=cpu, cpu_last=cpu)
        for pid, series in self.backends.items():
            if pid in pids:
                try:
                    series.cpu_last = sum(psutil.Process(pid).cpu_times()[:2])
                except psutil.Error:
                    continue

    def backend_cpu(self) -> dict[str, float]:
        """PostgreSQL CPU seconds per watched role (its backends'); the rest of PostgreSQL's
        share is other clients' and PostgreSQL's own background work."""
        used: dict[str, float] = {}
        for series in self.backends.values():
            used[series.label] = round(used.get(series.label, 0.0) + series.cpu_seconds, 2)
        return used

    def _children_of(self, role: str) -> list[Series]:
        return [s for s in self.series.values() if s.label.startswith(f"{role} child")]

    def summary(self) -> list[dict]:
        return [
            {
                "process": s.label,
                "pid": s.pid,
                "peak_mb": round(s.peak, 1),
                "first_mb": round(s.first, 1),
                "last_mb": round(s.last, 1),
                "samples": len(s.rss_mb),
                "cpu_seconds": round(s.cpu_seconds, 2),
            }
            for s in self.series.values()
        ]
