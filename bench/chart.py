"""One PNG of a bench run: steady latency over time, throughput per scenario,
bulk progress over time, and memory over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def _steady(ax, steady: dict | None) -> None:
    ax.set_title("steady: commit → applied latency")
    if not steady:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    points = steady.get("points") or []
    if points:
        ax.scatter(
            [p[0] for p in points],
            [max(p[1], 0.1) for p in points],
            s=2,
            alpha=0.3,
            color="tab:blue",
            label="each change",
        )
    series = steady["series"]
    ax.plot([b["t"] for b in series], [b["p50"] for b in series], color="tab:green", label="p50 per 0.5 s")
    ax.plot([b["t"] for b in series], [b["p99"] for b in series], color="tab:red", label="p99 per 0.5 s")
    ax.axhline(15, color="tab:green", ls=":", lw=1, label="target p50 15 ms")
    ax.axhline(100, color="tab:red", ls=":", lw=1, label="target p99 100 ms")
    ax.set_yscale("log")
    ax.set_xlabel(f"seconds since the first change ({steady['rate']:.0f} changes/s)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7, loc="upper right")

    def ms(key: str) -> str:
        value = steady[key]
        return f"> {steady['drain_limit_s']:.0f} s" if value is None else f"{value:.1f} ms"

    ax.text(
        0.01, 0.02, f"p50 {ms('p50_ms')}  p95 {ms('p95_ms')}  p99 {ms('p99_ms')}", transform=ax.transAxes, fontsize=8
    )


def _throughput(ax, results: dict) -> None:
    ax.set_title("throughput per scenario (same run)")
    bars: list[tuple[str, float, str]] = []
    if b := results.get("bulk"):
        bars.append(("bulk end to end", b["rate"], "tab:blue"))
        bars.append(("bulk commit phase", b["commit_rate"], "tab:cyan"))
    if d := results.get("drain"):
        bars.append(("drain: relay+worker", d["rate"], "tab:purple"))
        bars.append(("drain commit phase", d["commit_rate"], "tab:pink"))
    if r := results.get("reference"):
        bars.append(("reference (pika)", r["rate"], "tab:gray"))
    if a := results.get("api"):
        for mode, m in a["modes"].items():
            bars.append((f"API creates, {mode} stack, broker up", m["up"]["rate"], "tab:green"))
            bars.append((f"API creates, {mode} stack, broker down", m["down"]["rate"], "tab:olive"))
    if not bars:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    labels, values, colors = zip(*bars, strict=True)
    y = range(len(bars))
    ax.barh(y, values, color=colors)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("per second (log scale)")
    ax.axvline(20_000, color="tab:red", ls=":", lw=1, label="bulk target 20,000/s")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")


def _progress(ax, results: dict) -> None:
    ax.set_title("progress: changes committed / published / applied")
    drawn = False
    if b := results.get("bulk"):
        tl = b["timeline"]
        if tl["committed"]:
            ax.plot(*zip(*tl["committed"], strict=True), color="tab:cyan", label="bulk: committed in admin")
        if tl.get("published"):
            ax.plot(
                *zip(*tl["published"], strict=True), color="tab:orange", ls="--", label="bulk: published (confirmed)"
            )
        if tl["applied"]:
            ax.plot(*zip(*tl["applied"], strict=True), color="tab:blue", label="bulk: applied in catalog")
        drawn = True
    if d := results.get("drain"):
        if d["timeline"].get("published"):
            ax.plot(
                *zip(*d["timeline"]["published"], strict=True),
                color="tab:red",
                ls="--",
                label="drain: published (0 = relay start)",
            )
        if d["timeline"]["applied"]:
            ax.plot(
                *zip(*d["timeline"]["applied"], strict=True),
                color="tab:purple",
                label="drain: applied (0 = relay start)",
            )
        drawn = True
    if r := results.get("reference"):
        if r["timeline"]["applied"]:
            ax.plot(*zip(*r["timeline"]["applied"], strict=True), color="tab:gray", label="reference: applied")
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    ax.set_xlabel("seconds since the first change")
    ax.set_ylabel("changes")
    ax.legend(fontsize=7)


def _memory(ax, results: dict) -> None:
    ax.set_title("resident memory (RSS)")
    drawn = False
    for name, style in (("bulk", "-"), ("drain", "--")):
        scenario = results.get(name)
        if not scenario:
            continue
        offset = scenario["timeline"].get("sampler_offset", 0.0)
        for label, (times, rss) in scenario["memory_series"].items():
            ax.plot([t + offset for t in times], rss, ls=style, lw=1, label=f"{name}: {label}")
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    ax.axhline(120, color="tab:red", ls=":", lw=1, label="relay limit 120 MB")
    ax.axhline(150, color="tab:orange", ls=":", lw=1, label="worker limit 150 MB")
    ax.set_xlabel("seconds since the first change (drain: since relay start)")
    ax.set_ylabel("MB")
    ax.legend(fontsize=6, ncol=2)


def draw(results: dict, path: Path, title: str) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    _steady(axes[0][0], results.get("steady"))
    _throughput(axes[0][1], results)
    _progress(axes[1][0], results)
    _memory(axes[1][1], results)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
