"""The benchmark's results as a table, a TSV history and a chart in bench/results/."""

from __future__ import annotations

import statistics
import textwrap
from pathlib import Path
from typing import Any

from bench.writes import ARTICLES, LABELS, WRITERS, describe


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
        f"warm-up, median of {args['rounds']} rounds; dataset scale {args['scale']}; the whole "
        f"run took {args.get('minutes', 0):.0f} minutes. Production defaults on: JSON access "
        "log, metrics, rate limits counting in Redis (limits raised out of reach), an "
        "Idempotency-Key on every concurrent write that takes one (create article, comment).",
        "",
    ]
    baseline = next((run["baseline"] for run in runs if run.get("baseline")), None)
    if baseline:
        subject = textwrap.shorten(baseline["subject"], 80, placeholder=" ...")
        lines += [
            f"Baseline measured beside it on PostgreSQL: commit {baseline['commit']} "
            f"({subject}), served from a git worktree on a database of its own "
            "seeded by its own code, every request interleaved with the current code's in the "
            "same rounds.",
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
        rss = f"RSS per worker (MiB): after the reads {_mib(run['rss_mib'])}"
        if run.get("rss_after_writes"):
            rss += f"; after the writes {_mib(run['rss_after_writes'])} (issue 11: under 150)"
        lines += ["", rss + ".", ""]
        if run.get("writes"):
            lines += _writes_table(run, args)
        if run.get("off"):
            lines += _cost_table(run)
        if run.get("baseline"):
            lines += _baseline_table(run)
    base = next((run for run in runs if run["backend"] == "postgresql"), None)
    if scaled is not None and base is not None:
        lines += _scale_table(base, scaled)
    return "\n".join(lines)


def _mib(values: list[float]) -> str:
    return ", ".join(f"{m:.0f}" for m in values)


def _writes_table(run: dict[str, Any], args: dict[str, Any]) -> list[str]:
    shape = run["shape"]
    lines = [
        f"#### {run['backend']}: writes (concurrent: wrk {args['threads']} threads x "
        f"{args['connections']} kept-alive connections; sequential: one client, a new connection "
        f"per request, {args['writes']} per phase)",
        "",
        "| write | concurrent writes/s | p50 ms | p99 ms | errors | sequential writes/s "
        "| sequential p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, w in run["writes"].items():
        lines.append(
            f"| {LABELS[kind]} | {_median(w.rps):.0f} | {_median(w.p50_ms):.2f} "
            f"| {_median(w.p99_ms):.2f} | {w.errors + w.seq_errors} | {_median(w.seq_rate):.1f} "
            f"| {_median(w.seq_p50_ms):.2f} |"
        )
    said = describe(
        writers=min(WRITERS, shape.users),
        articles=min(ARTICLES, shape.articles),
        users=shape.users,
        n=args["writes"],
    )
    lines += [
        "",
        "Errors are non-2xx answers and socket errors, concurrent and sequential together.",
        "",
        *(f"- {LABELS.get(kind, kind)}: {what}" for kind, what in said.items()),
        "",
    ]
    return lines


def _baseline_table(run: dict[str, Any]) -> list[str]:
    """Every read and write of the current code against the baseline's, side by side."""
    b = run["baseline"]
    same = {True: "the same dataset", False: "ANOTHER DATASET (the seeds differ)", None: "?"}
    lines = [
        f"#### {run['backend']}: against the baseline {b['commit']} ({same[b['same_dataset']]}, "
        "side by side in the same rounds)",
        "",
        "| request | current | baseline | current/baseline | p99 ms current | p99 ms baseline "
        "| p99 current/baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    for now, then in zip(run["results"], b["results"], strict=True):
        label = f"{now.endpoint.label}, req/s"
        lines.append(_row(label, now.rps, then.rps, (now.p99_ms, then.p99_ms)))
    for kind, now in run["writes"].items():
        then = b["writes"][kind]
        label = f"{LABELS[kind]}, concurrent writes/s"
        lines.append(_row(label, now.rps, then.rps, (now.p99_ms, then.p99_ms)))
    for kind, now in run["writes"].items():
        then = b["writes"][kind]
        label = f"{LABELS[kind]}, sequential writes/s"
        lines.append(_row(label, now.seq_rate, then.seq_rate, digits=1))
    if run.get("rss_after_writes") and b.get("rss_after_writes"):
        label = "largest worker RSS after the writes, MiB"
        lines.append(_row(label, [max(run["rss_after_writes"])], [max(b["rss_after_writes"])]))
    return [*lines, ""]


def _row(
    label: str,
    now: list[float],
    then: list[float],
    p99: tuple[list[float], list[float]] | None = None,
    *,
    digits: int = 0,
) -> str:
    cells = [label, *_ratio(_median(now), _median(then), digits)]
    cells += _ratio(_median(p99[0]), _median(p99[1]), 2) if p99 else ["", "", ""]
    return "| " + " | ".join(cells) + " |"


def _ratio(now: float, then: float, digits: int) -> list[str]:
    return [f"{now:.{digits}f}", f"{then:.{digits}f}", f"{now / then:.2f}" if then else ""]


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
    rows = []
    for run in [*runs, *([scaled] if scaled else [])]:
        rows += _history(run["backend"], run["scale"], run["results"], run.get("writes", {}))
        if b := run.get("baseline"):
            rows += _history(f"{run['backend']}@{b['commit']}", run["scale"], b["results"],
                             b["writes"])  # fmt: skip
    with history.open("a") as out:
        out.writelines(f"{stamp}\t" + "\t".join(row) + "\n" for row in rows)
    chart(directory / "latest.png", runs, stamp=stamp)


def _history(
    backend: str, scale: float, reads: list[Any], writes: dict[str, Any]
) -> list[list[str]]:
    """Rows of history.tsv: reads by key, writes as write_KIND (concurrent) and seq_KIND."""
    rows = [
        [backend, str(scale), r.endpoint.key, f"{_median(r.rps):.0f}", f"{_median(r.p50_ms):.2f}",
         f"{_median(r.p99_ms):.2f}", str(r.errors)]
        for r in reads
    ]  # fmt: skip
    for kind, w in writes.items():
        rows.append(
            [
                backend,
                str(scale),
                f"write_{kind}",
                f"{_median(w.rps):.0f}",
                f"{_median(w.p50_ms):.2f}",
                f"{_median(w.p99_ms):.2f}",
                str(w.errors),
            ]
        )
        rows.append([backend, str(scale), f"seq_{kind}", f"{_median(w.seq_rate):.1f}",
                     f"{_median(w.seq_p50_ms):.2f}", "", str(w.seq_errors)])  # fmt: skip
    return rows


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
