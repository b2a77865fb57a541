"""py-spy profiles of running processes, and a plain-text summary of their hotspots.

``py-spy record --format raw`` writes collapsed stacks ("outer;…;leaf count"); the
summary reads them back and ranks functions by own time (leaf samples) and by
total time (samples whose stack contains the function). Idle samples (a thread
blocked in a socket read or a sleep) are kept (``--idle``), so the percentages
are of wall time, and waiting on the broker or the database shows up as such.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when run as .venv/bin/python
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """One ``py-spy record`` per target, stopped with SIGINT (py-spy then writes its file)."""

    def __init__(self, out_dir: Path, rate: int = 100) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.running: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, pid: int) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed: pip install -r bench/requirements.txt")
        raw = self.out_dir / f"{name}.raw.txt"
        log = (self.out_dir / f"{name}.py-spy.log").open("wb")
        popen = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--idle",
                "--threads",
                "--nonblocking",
                "--output",
                str(raw),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running[name] = (popen, raw)

    def stop(self) -> dict[str, Path]:
        """Stop every recorder; return the raw files that were written."""
        written = {}
        for name, (popen, raw) in self.running.items():
            if popen.poll() is None:
                popen.send_signal(signal.SIGINT)
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait(5)
            if raw.exists():
                written[name] = raw
        self.running.clear()
        return written


def short_frame(frame: str) -> str:
    """'relay_round (/work/main/admin_app/sync/relay.py:140)' -> 'relay_round (sync/relay.py)'."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", "admin_app/", "catalog_worker/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if path.startswith(".11/") or path.startswith(".12/"):
        path = "stdlib:" + path[4:]
    return f"{match['func']} ({path})"


def _thread_name(frame: str) -> str | None:
    """'thread (25417): MainThread' -> 'MainThread' (py-spy --threads puts it first on each stack)."""
    if frame.startswith("thread ("):
        return frame.partition("): ")[2] or frame
    return None


def summarise(raw: Path, top: int = 12) -> dict:
    """Own and total time per function, per thread, as % of that thread's samples (wall time)."""
    own: dict[str, Counter[str]] = {}
    total: dict[str, Counter[str]] = {}
    samples: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        raw_frames = stack.split(";")
        thread = _thread_name(raw_frames[0]) or "all threads"
        frames = [short_frame(f) for f in raw_frames if _thread_name(f) is None and not f.startswith("process ")]
        if not frames:
            continue
        samples[thread] += n
        own.setdefault(thread, Counter())[frames[-1]] += n
        for frame in set(frames):
            total.setdefault(thread, Counter())[frame] += n
    threads = {}
    # The main thread first, then the others by sample count.
    for thread in sorted(samples, key=lambda t: (t != "MainThread", -samples[t])):
        count = samples[thread]

        def ranked(counter: Counter[str], count: int = count) -> list[tuple[str, float]]:
            return [(name, round(100.0 * n / count, 1)) for name, n in counter.most_common(top)]

        # The trunk (main(), the event loop, …) is on nearly every stack and says nothing.
        branches = Counter({name: n for name, n in total[thread].items() if n < 0.97 * count})
        threads[thread] = {"samples": count, "own": ranked(own[thread]), "total": ranked(branches)}
    return {"samples": sum(samples.values()), "threads": threads}


def format_summary(name: str, summary: dict, other_threads_top: int = 3) -> str:
    lines = [f"== {name}: {summary['samples']} samples at 100/s, per thread (wall time, idle included)"]
    for index, (thread, t) in enumerate(summary["threads"].items()):
        lines.append(f" -- thread {thread}: {t['samples']} samples")
        if index == 0:
            lines.append("   own time (leaf frame):")
            lines += [f"     {pct:5.1f}%  {func}" for func, pct in t["own"]]
            lines.append("   total time (frame anywhere on the stack; frames on >= 97% of stacks left out):")
            lines += [f"     {pct:5.1f}%  {func}" for func, pct in t["total"]]
        else:
            lines += [f"     {pct:5.1f}%  {func}" for func, pct in t["own"][:other_threads_top]]
    return "\n".join(lines)
