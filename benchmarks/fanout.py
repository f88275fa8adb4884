"""Fan-out at 1,000 clients: delivery latency, stalled readers, memory per idle connection.

    python -m benchmarks.fanout            # about two minutes; writes results/fanout.json and fanout.png

Three contenders run side by side, each in its own server process on 127.0.0.1
(see ``fanout_server``); the clients run in one more process (``fanout_load``).
Broadcasts go in interleaved rounds, so a noisy neighbour hurts every contender alike.

Targets (issue 8): the course's p99 within 1.5x the ``websockets`` anchor; with
5 stalled readers the others' p99 rises at most 10%; at most 40 KiB of server
RSS per idle connection with the settings the course recommends (no deflate).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CONTENDERS = ["course", "plain", "anchor"]
LABELS = {"course": "course Broadcast (uvicorn)", "plain": "send_text loop (uvicorn)", "anchor": "websockets broadcast()"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(kind: str, *, deflate: bool = False) -> Iterator[tuple[int, int]]:
    """A contender's server process: yields (port, pid); killed on exit, whatever state it is in."""
    port = _free_port()
    cmd = [sys.executable, "-m", "benchmarks.fanout_server", kind, str(port)] + (["--deflate"] if deflate else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the {kind} server exited with code {proc.returncode} during start-up")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not listen on port {port} within 20 s") from None
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait(10)


def load(*args: str, timeout: float = 300) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.fanout_load", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure() -> dict[str, Any]:
    with server("course") as (course, _), server("plain") as (plain, _), server("anchor") as (anchor, _):
        latency = load("latency", "--servers", f"course:{course}", f"plain:{plain}", f"anchor:{anchor}")
    memory: dict[str, Any] = {}
    for kind in ("course", "anchor"):
        for deflate in (False, True):
            with server(kind, deflate=deflate) as (port, pid):
                memory[f"{kind}{'+deflate' if deflate else ''}"] = load(
                    "memory", "--server", f"{kind}:{port}", "--pid", str(pid), *(["--deflate"] if deflate else []))
    return {"latency": latency, "memory": memory}


def targets(data: dict[str, Any]) -> dict[str, Any]:
    healthy, stalled = data["latency"]["healthy"], data["latency"]["with_stalled"]
    course_p99, anchor_p99 = healthy["course"]["p99_ms"], healthy["anchor"]["p99_ms"]
    stalled_p99 = stalled["course"]["p99_ms"]
    rss = data["memory"]["course"]["kib_per_connection"]
    return {
        "course_p99_over_anchor_p99": {"measured": round(course_p99 / anchor_p99, 2), "target": "<= 1.5",
                                       "met": course_p99 <= 1.5 * anchor_p99},
        "course_p99_rise_with_5_stalled": {"measured": round(stalled_p99 / course_p99 - 1, 3), "target": "<= 0.10",
                                           "met": stalled_p99 <= 1.10 * course_p99},
        "course_kib_per_idle_connection_no_deflate": {"measured": rss, "target": "<= 40", "met": rss <= 40},
    }


def plot(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, mem) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.2
    for i, (scenario, label) in enumerate([("healthy", "all reading"), ("with_stalled", "5 stalled readers")]):
        for j, stat in enumerate(["p50_ms", "p99_ms"]):
            values = [data["latency"][scenario][c][stat] or 0 for c in CONTENDERS]
            offset = (2 * i + j - 1.5) * width
            bars = lat.bar([k + offset for k in range(len(CONTENDERS))], values, width,
                           label=f"{stat[:3]} {label}", color=["#4C72B0", "#8FAADC", "#C44E52", "#E8A0A2"][2 * i + j])
            for k, c in enumerate(CONTENDERS):
                stuck = data["latency"][scenario][c]["stuck_at_broadcast"]
                if stuck is not None and j == 1:
                    lat.annotate(f"stuck at #{stuck}", (bars[k].get_x(), 1), rotation=90, fontsize=8, va="bottom")
    lat.set_xticks(range(len(CONTENDERS)), [LABELS[c] for c in CONTENDERS], fontsize=8)
    lat.set_ylabel("delivery latency, ms (lower is better)")
    lat.set_title("One broadcast to 1,000 clients (50 broadcasts each)")
    lat.legend(fontsize=8)
    names = list(data["memory"])
    mem.bar(names, [data["memory"][n]["kib_per_connection"] for n in names], color="#55A868")
    mem.axhline(40, color="#C44E52", linestyle="--", label="target 40 KiB")
    mem.set_ylabel("server RSS per idle connection, KiB")
    mem.set_title("Memory at 1,000 idle connections")
    mem.tick_params(axis="x", labelsize=8)
    mem.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> int:
    started = time.monotonic()
    data = measure()
    data["targets"] = targets(data)
    data["meta"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(), "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "seconds": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fanout.json").write_text(json.dumps(data, indent=2))
    plot(data, RESULTS / "fanout.png")
    for scenario in ("healthy", "with_stalled"):
        for c in CONTENDERS:
            s = data["latency"][scenario][c]
            print(f"{scenario:13} {LABELS[c]:28} p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  "
                  f"complete {s['complete']}/{s['broadcasts']}")
    for name, m in data["memory"].items():
        print(f"memory {name:16} {m['kib_per_connection']} KiB per idle connection")
    for name, t in data["targets"].items():
        print(f"target {name}: {t['measured']} ({t['target']}) {'met' if t['met'] else 'MISSED'}")
    print(f"wrote {RESULTS / 'fanout.json'} and {RESULTS / 'fanout.png'} in {data['meta']['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
