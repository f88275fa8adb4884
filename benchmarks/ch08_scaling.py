"""Chapter 08 at scale: 3 workers sharing one Redis vs one worker without it, 1,000 clients, 100 messages/s.

    python -m benchmarks.ch08_scaling [--clients 1000] [--rate 100] [--seconds 10]
    # about a minute; writes results/ch08_scaling.json and ch08_scaling.png

Three setups get the same load from a load generator in its own process
(``ch08_load``), all on 127.0.0.1:

* ``pubsub``:  ``uvicorn --workers 3`` (``Cluster``), clients on ``/scale/ws``,
  messages through ``POST /scale/publish``: Redis Pub/Sub between the workers;
* ``streams``: the same cluster, ``/replay/ws`` and ``POST /replay/publish``:
  Redis Streams (XADD, one XREAD listener per worker);
* ``memory``:  one worker, no Redis (``memory://``), ``/scale/ws``: the baseline.

Each message's latency is taken from the moment its POST left the publisher to
the moment each client had it; loss is deliveries missing after a bounded drain.
Targets (issue 10): p99 <= 25 ms through Redis; zero loss with Streams.
``os.getloadavg()`` is recorded before and after each setup: on a shared
machine the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SETUPS = {  # name -> (workers, Redis?, WebSocket path, publish path)
    "memory": (1, False, "/scale/ws", "/scale/publish"),
    "pubsub": (3, True, "/scale/ws", "/scale/publish"),
    "streams": (3, True, "/replay/ws", "/replay/publish"),
}
LABELS = {"memory": "1 worker, memory://", "pubsub": "3 workers, Redis Pub/Sub", "streams": "3 workers, Redis Streams"}
P99_TARGET_MS = 25.0


def load(port: int, workers: int, ws: str, publish: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.ch08_load", "--port", str(port), "--ws", ws, "--publish", publish,
           "--workers", str(workers), "--clients", str(args.clients), "--rate", str(args.rate),
           "--seconds", str(args.seconds)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from course_app.cluster import Cluster

    setups: dict[str, Any] = {}
    with Cluster(workers=1, redis_url="") as single:  # REDIS_URL empty: /scale falls back to memory://
        setups["memory"] = _one("memory", single, args)
    with Cluster(workers=3) as cluster:  # one embedded Redis, shared by the three workers
        for name in ("pubsub", "streams"):
            setups[name] = _one(name, cluster, args)
    return setups


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a live process so far (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(name: str, cluster: Any, args: argparse.Namespace) -> dict[str, Any]:
    workers, _, ws, publish = SETUPS[name]
    pids = cluster.worker_pids()
    redis_pid = cluster.redis.pid if cluster.redis is not None else None
    before = os.getloadavg()
    cpu_before = [_cpu_seconds(pid) for pid in pids], _cpu_seconds(redis_pid)
    result = load(cluster.port, workers, ws, publish, args)
    result["workers_cpu_s"] = [round(_cpu_seconds(pid) - was, 2) for pid, was in zip(pids, cpu_before[0], strict=True)]
    result["redis_cpu_s"] = round(_cpu_seconds(redis_pid) - cpu_before[1], 2) if redis_pid else None
    if result["deliveries"]:  # what one delivery costs the servers: the figure that decides how far they scale
        result["workers_cpu_us_per_delivery"] = round(1e6 * sum(result["workers_cpu_s"]) / result["deliveries"], 1)
    result["load_average_before"] = [round(x, 2) for x in before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{name}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, lost {result['lost']}, "
          f"CPU s: workers {result['workers_cpu_s']}, Redis {result['redis_cpu_s']}, "
          f"load generator {result['load_generator_cpu_s']} in {result['measured_wall_s']} s; "
          f"load {result['load_average_after'][0]}", flush=True)
    return result


def targets(setups: dict[str, Any]) -> dict[str, Any]:
    return {
        "pubsub_p99_ms": {"measured": setups["pubsub"]["p99_ms"], "target": f"<= {P99_TARGET_MS:g}",
                          "met": setups["pubsub"]["p99_ms"] is not None
                          and setups["pubsub"]["p99_ms"] <= P99_TARGET_MS},
        "streams_p99_ms": {"measured": setups["streams"]["p99_ms"], "target": f"<= {P99_TARGET_MS:g}",
                           "met": setups["streams"]["p99_ms"] is not None
                           and setups["streams"]["p99_ms"] <= P99_TARGET_MS},
        "streams_lost": {"measured": setups["streams"]["lost"], "target": "0", "met": setups["streams"]["lost"] == 0},
    }


def table(data: dict[str, Any]) -> str:
    """The README's table, from one run."""
    rows = ["| setup | clients per worker | p50 / p99 / max ms | deliveries lost | closed by the server | load (1 min) |",
            "|---|---|---|---|---|---|"]
    for name, label in LABELS.items():
        r = data["setups"][name]
        closed = ", ".join(f"{n} x {code}" for code, n in r["closed_by_server"].items()) or "none"
        lost = f"{r['lost']:,} of {r['deliveries_expected']:,}"
        rows.append(f"| {label} | {'/'.join(map(str, r['clients_per_worker']))} "
                    f"| {r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} | {lost} | {closed} "
                    f"| {r['load_average_after'][0]} |")
    return "\n".join(rows)


def plot(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(LABELS)
    setups = data["setups"]
    fig, (lat, loss) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.38
    for i, (stat, color) in enumerate((("p50_ms", "#8FAADC"), ("p99_ms", "#4C72B0"))):
        lat.bar([k + (i - 0.5) * width for k in range(len(names))], [setups[n][stat] or 0 for n in names],
                width, color=color, label=stat.replace("_ms", ""))
    lat.axhline(P99_TARGET_MS, color="#C44E52", linestyle="--", label=f"p99 target {P99_TARGET_MS:g} ms")
    lat.set_xticks(range(len(names)), [LABELS[n] for n in names], fontsize=8)
    lat.set_yscale("log")
    lat.set_ylim(bottom=1)
    lat.set_ylabel("delivery latency, ms (log scale)")
    meta = data["meta"]
    lat.set_title(f"{meta['clients']:,} clients, {meta['rate']:g} messages/s for {meta['seconds']:g} s; "
                  f"load {meta['load_average'][0]:.1f} on {meta['cpus']} CPUs", fontsize=9)
    lat.legend(fontsize=8)
    ratios = [100 * (setups[n]["loss_ratio"] or 0) for n in names]
    loss.bar(range(len(names)), ratios, color="#C44E52")
    for k, n in enumerate(names):
        loss.annotate(f"{setups[n]['lost']:,} of\n{setups[n]['deliveries_expected']:,}", (k, ratios[k]),
                      ha="center", va="bottom", fontsize=8)
    loss.set_ylim(0, max(1.0, 1.3 * max(ratios)))
    loss.set_xticks(range(len(names)), [LABELS[n] for n in names], fontsize=7, rotation=10)
    loss.set_ylabel("deliveries lost, %")
    loss.set_title("Loss (target: 0 with Streams)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ch08_scaling")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--name", default="ch08_scaling", help="results/<name>.json and .png")
    args = parser.parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    setups = measure(args)
    data: dict[str, Any] = {"setups": setups, "targets": targets(setups)}
    data["meta"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "clients": args.clients,
                    "rate": args.rate, "seconds": args.seconds,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds_taken": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2))
    plot(data, RESULTS / f"{args.name}.png")
    print(table(data))
    for name, t in data["targets"].items():
        print(f"target {name}: {t['measured']} ({t['target']}) {'met' if t['met'] else 'MISSED'}")
    print(f"load average {data['meta']['load_average_before']} before, {data['meta']['load_average']} after")
    print(f"wrote {RESULTS / args.name}.json and .png in "
          f"{data['meta']['seconds_taken']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
