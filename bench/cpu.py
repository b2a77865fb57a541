"""CPU per change: what one change costs the machine, in every scenario alike.

The sum of the CPU seconds of every process a scenario measured (relay, worker main
process and pool children, the reference's consumer, …), of PostgreSQL and of RabbitMQ
(all their processes: shared services, so anything else the machine runs meanwhile
counts too), divided by the scenario's changes. The producer process is left out: it
stands for staff and imports. The statements it runs are in PostgreSQL's share, on both
sides alike: the system's ``product_create`` (product, outbox event, NOTIFY) and the
reference's admin-side save (the tutorial's view saves the product before publishing);
docs/decisions/0022-single-edit-accounting.md.
"""

from __future__ import annotations

EXCLUDED = ("producer",)


def cpu_breakdown(result: dict) -> dict[str, float]:
    """CPU seconds per group: each measured process but the producer, then the shared services."""
    parts: dict[str, float] = {}
    for name, seconds in (result.get("cpu") or {}).items():
        if name.split(" ")[0] in EXCLUDED:
            continue
        group = name.split(" ")[0] + (" children" if " child " in name else "")
        parts[group] = round(parts.get(group, 0.0) + seconds, 2)
    machine = result.get("machine") or {}
    for name, seconds in machine.get("services_cpu_seconds", {}).items():
        parts[name.rstrip("*")] = round(seconds, 2)
    return parts


def annotate(result: dict, changes: int | None = None) -> float | None:
    """Store ``cpu_ms_per_change`` (and its breakdown per change) in ``result``; return it.

    None when the scenario measured no CPU (e.g. the API rounds).
    """
    changes = changes if changes is not None else result.get("count")
    if not result.get("cpu") or not changes:
        return None
    parts = cpu_breakdown(result)
    total = sum(parts.values())
    result["cpu_seconds_counted"] = round(total, 2)
    result["cpu_ms_per_change"] = round(1000 * total / changes, 3)
    result["cpu_ms_per_change_by_process"] = {k: round(1000 * v / changes, 3) for k, v in parts.items()}
    by_client = (result.get("machine") or {}).get("postgres_cpu_seconds_by_client") or {}
    result["postgres_ms_per_change_by_client"] = {k: round(1000 * v / changes, 3) for k, v in by_client.items()}
    return result["cpu_ms_per_change"]


def per_change_part(result: dict) -> str:
    """' | 4.2 ms CPU per change (relay 0.9, worker 1.1, …)' for a scenario's line, or ''."""
    value = result.get("cpu_ms_per_change")
    if value is None:
        return ""
    parts = ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_ms_per_change_by_process"].items())
    clients = ", ".join(f"{k} {v:.2f}" for k, v in result.get("postgres_ms_per_change_by_client", {}).items())
    of_postgres = f"; postgres backends by client: {clients}" if clients else ""
    return f" | {value:.1f} ms CPU per change ({parts}; producer apart{of_postgres})"
