"""The benchmark's results as a table, a TSV history and a chart in bench/results/."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(
    runs: list[dict[str, Any]],
    scaled: dict[str, Any] | None,
    *,
    stamp: str,
    machine: str,
    args: dict[str, Any],
) -> str:
    lines = [
        f"Measured {stamp} on {machine}; {args['workers']} workers, wrk {args['threads']} threads "
        f"x {args['connections']} connections, {args['duration']} s after {args['warmup']} s "
        f"warm-up, median of {args['rounds']} rounds; dataset scale {args['scale']}.",
        "",
    ]
    for run in runs:
        shape = run["shape"]
        lines += [
            f"### {run['backend']} ({shape.articles:,} articles, {shape.favorites:,} favourites, "
            f"{shape.comments:,} comments; seeded in {run['seed_seconds']:.1f} s)",
            "",
            "| request | req/s | target | p50 ms | p99 ms | errors | SQL/request "
            "| 1-conn ms | SQL floor ms | x floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in run["results"]:
            ratio = (
                f"{r.serial_ms / r.floor_ms:.1f}" if r.floor_ms and r.serial_ms is not None else ""
            )
            floor = f"{r.floor_ms:.2f}" if r.floor_ms else ""
            lines.append(
                f"| {r.endpoint.label} | {_median(r.rps):.0f} | {r.endpoint.target or ''} "
                f"| {_median(r.p50_ms):.2f} | {_median(r.p99_ms):.2f} | {r.errors} "
                f"| {r.statements} | {r.serial_ms:.2f} | {floor} | {ratio} |"
            )
        rss = ", ".join(f"{m:.0f}" for m in run["rss_mib"])
        writes = ", ".join(f"{k} {v:.2f} ms" for k, v in run["writes"].items())
        lines += ["", f"RSS per worker (MiB): {rss}. Writes, p50 at 1 connection: {writes}.", ""]
        if run.get("off"):
            lines += _cost_table(run)
    base = next((run for run in runs if run["backend"] == "postgresql"), None)
    if scaled is not None and base is not None:
        lines += _scale_table(base, scaled)
    return "\n".join(lines)


def _cost_table(run: dict[str, Any]) -> list[str]:
    """Each read with the production features on against the same server with them off,
    measured in turn in the same rounds."""
    lines = [
        f"#### {run['backend']}: what the production features cost (JSON access log, metrics, "
        "rate limits in Redis on; against all three off, side by side)",
        "",
        "| request | req/s on | req/s off | on/off | p99 ms on | p99 ms off |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for on, off in zip(run["results"], run["off"], strict=True):
        rps_on, rps_off = _median(on.rps), _median(off.rps)
        lines.append(
            f"| {on.endpoint.label} | {rps_on:.0f} | {rps_off:.0f} | {rps_on / rps_off:.2f} "
            f"| {_median(on.p99_ms):.2f} | {_median(off.p99_ms):.2f} |"
        )
    return [*lines, ""]


def _scale_table(base: dict[str, Any], scaled: dict[str, Any]) -> list[str]:
    """The list requests at the larger scale against the same requests at the benchmark's."""
    small, large = base["shape"], scaled["shape"]
    lines = [
        f"### Scale: postgresql, {large.articles:,} articles and {large.favorites:,} favourites "
        f"against {small.articles:,} and {small.favorites:,} (seeded in "
        f"{scaled['seed_seconds']:.1f} s)",
        "",
        "| request | p50 ms | p50 ms scaled | x | 1-conn ms | 1-conn ms scaled | x "
        "| SQL floor ms | SQL floor ms scaled |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    before = {r.endpoint.key: r for r in base["results"]}
    for r in scaled["results"]:
        b = before[r.endpoint.key]
        p50, p50_scaled = _median(b.p50_ms), _median(r.p50_ms)
        lines.append(
            f"| {r.endpoint.label} | {p50:.2f} | {p50_scaled:.2f} | {p50_scaled / p50:.2f} "
            f"| {b.serial_ms:.2f} | {r.serial_ms:.2f} | {r.serial_ms / b.serial_ms:.2f} "
            f"| {b.floor_ms:.2f} | {r.floor_ms:.2f} |"
        )
    return [*lines, ""]


def write(
    directory: Path,
    runs: list[dict[str, Any]],
    scaled: dict[str, Any] | None,
    *,
    args: dict[str, Any],
    stamp: str,
    machine: str,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.md").write_text(
        table(runs, scaled, stamp=stamp, machine=machine, args=args) + "\n"
    )
    history = directory / "history.tsv"
    if not history.exists():
        history.write_text("stamp\tbackend\tscale\trequest\treq_s\tp50_ms\tp99_ms\terrors\n")
    with history.open("a") as out:
        for run in [*runs, *([scaled] if scaled else [])]:
            for r in run["results"]:
                out.write(
                    f"{stamp}\t{run['backend']}\t{run['scale']}\t{r.endpoint.key}"
                    f"\t{_median(r.rps):.0f}\t{_median(r.p50_ms):.2f}\t{_median(r.p99_ms):.2f}"
                    f"\t{r.errors}\n"
                )
    chart(directory / "latest.png", runs, stamp=stamp)


def chart(path: Path, runs: list[dict[str, Any]], *, stamp: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r.endpoint.key for r in runs[0]["results"]]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, run in enumerate(runs):
        values = [_median(r.rps) for r in run["results"]]
        xs = [x + i * width for x in range(len(labels))]
        ax.bar(xs, values, width, label=run["backend"])
    aimed = [(x, r.endpoint.target) for x, r in enumerate(runs[0]["results"]) if r.endpoint.target]
    ax.scatter(
        [x + width * (len(runs) - 1) / 2 for x, _ in aimed],
        [target for _, target in aimed],
        marker="_",
        s=900,
        color="black",
        label="target",
    )
    ax.set_xticks([x + width * (len(runs) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylabel("requests per second (median)")
    ax.set_title(f"Conduit API, {stamp}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
