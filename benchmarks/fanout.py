"""Fan-out at 1,000 clients: delivery latency, stalled readers, memory per idle connection.

    python -m benchmarks.fanout   # about two minutes; writes results/fanout.json and fanout.png

Four contenders run side by side, each in its own server process on 127.0.0.1
(see ``fanout_server``); the clients run in one more process (``fanout_load``),
which also describes the three phases: healthy rounds, the window in which 5
stalled readers are dropped, and the steady state with them.
Broadcasts go in interleaved rounds, so a noisy neighbour hurts every contender
alike; figures are medians over rounds of each round's p50 and p99, with the
spread (lowest and highest round) beside them. Each server also reports its
CPU time and garbage-collector pauses per round.

Targets (issue 8): the course's p99 within 1.5x the ``websockets`` anchor; with
5 stalled readers the others' p99 rises at most 10% (the steady state; the drop
window is reported beside it); at most 40 KiB of server RSS per idle connection
with the settings the course recommends (no deflate).
"""

from __future__ import annotations

import contextlib
import json
import statistics
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
CONTENDERS = ["course", "course_default_gc", "plain", "anchor"]
CONTROL = "course_twin"  # a second `course` server that never gets stalled readers
LABELS = {"course": "course Broadcast + tune_gc()", "course_default_gc": "course Broadcast, default GC",
          "plain": "send_text loop (uvicorn)", "anchor": "websockets broadcast()",
          CONTROL: "course Broadcast + tune_gc(), twin never stalled"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(kind: str, extra: list[str] | None = None) -> Iterator[tuple[int, int]]:
    """A contender's server process: yields (port, pid); killed on exit, whatever state it is in."""
    port = _free_port()
    cmd = [sys.executable, "-m", "benchmarks.fanout_server", kind, str(port), *(extra or [])]
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
    with contextlib.ExitStack() as stack:
        ports = {name: stack.enter_context(server(name))[0] for name in CONTENDERS}
        ports[CONTROL] = stack.enter_context(server("course"))[0]
        latency = load("latency", "--servers", *(f"{name}:{port}" for name, port in ports.items()),
                       "--unstalled", CONTROL)
    memory: dict[str, Any] = {}
    for kind in ("course", "anchor"):
        for deflate in (False, True):
            with server(kind, ["--deflate"] if deflate else []) as (port, pid):
                memory[f"{kind}{'+deflate' if deflate else ''}"] = load(
                    "memory", "--server", f"{kind}:{port}", "--pid", str(pid), *(["--deflate"] if deflate else []))
    return {"latency": latency, "memory": memory}


def paired_ratio(data: dict[str, Any], phase: str, a: str, b: str) -> float | None:
    """Median over rounds of a's p99 / b's p99 in the same round (a slow spell on the machine hits both)."""
    rounds = zip(data["latency"][phase][a]["per_round"], data["latency"][phase][b]["per_round"], strict=True)
    ratios = [x["p99_ms"] / y["p99_ms"] for x, y in rounds if x["p99_ms"] and y["p99_ms"]
              and x["complete"] == x["broadcasts"] and y["complete"] == y["broadcasts"]]
    return round(statistics.median(ratios), 2) if ratios else None


def targets(data: dict[str, Any]) -> dict[str, Any]:
    lat = data["latency"]
    course, anchor = lat["healthy"]["course"]["p99_ms"], lat["healthy"]["anchor"]["p99_ms"]
    steady, drop = lat["stalled"]["course"]["p99_ms"], lat["drop"]["course"]["p99_ms"]
    anchor_steady = lat["stalled"]["anchor"]["p99_ms"]
    twins_before = paired_ratio(data, "healthy", "course", CONTROL)  # two identical servers: the noise floor
    twins_stalled = paired_ratio(data, "stalled", "course", CONTROL)  # the same two, one with 5 stalled readers
    assert twins_before is not None and twins_stalled is not None, "the course servers were stuck"
    rise = twins_stalled / twins_before - 1
    rss = data["memory"]["course"]["kib_per_connection"]
    return {
        "course_p99_over_anchor_p99": {"measured": round(course / anchor, 2), "target": "<= 1.5",
                                       "met": course <= 1.5 * anchor,
                                       "paired_per_round": paired_ratio(data, "healthy", "course", "anchor")},
        "course_default_gc_p99_over_anchor_p99": {
            "measured": round(lat["healthy"]["course_default_gc"]["p99_ms"] / anchor, 2), "target": "(for comparison)",
            "met": None, "paired_per_round": paired_ratio(data, "healthy", "course_default_gc", "anchor")},
        "course_p99_rise_with_5_stalled_steady": {
            "measured": round(rise, 3), "target": "<= 0.10", "met": rise <= 0.10,
            "how": "median per-round p99 ratio of the course server over its never-stalled twin, with 5 stalled "
                   "readers, divided by the same ratio before they stalled",
            "twin_ratio_before": twins_before, "twin_ratio_stalled": twins_stalled,
            "phase_to_phase": round(steady / course - 1, 3),
            "anchor_phase_to_phase": round(anchor_steady / anchor - 1, 3)},
        "course_p99_rise_in_the_drop_window": {"measured": round(drop / course - 1, 3),
                                               "target": "(reported; a one-off)", "met": None},
        "course_kib_per_idle_connection_no_deflate": {"measured": rss, "target": "<= 40", "met": rss <= 40},
    }


def _cell(phase: dict[str, Any], spread: bool = True) -> str:
    if phase.get("stuck_before") or phase["p99_ms"] is None:
        at = phase.get("stuck_at_broadcast")
        return f"stuck at broadcast {at}" if at else "stuck (earlier)"
    text = f"{phase['p50_ms']:.1f} / {phase['p99_ms']:.1f}"
    if spread and phase.get("p99_spread_ms"):
        low, high = phase["p99_spread_ms"]
        text += f" (p99 {low:.0f}-{high:.0f})"
    if phase.get("stuck_at_broadcast"):
        text += f", stuck at broadcast {phase['stuck_at_broadcast']}"
    return text


def _drop_cell(drop: dict[str, Any]) -> str:
    if drop["p99_ms"] is None or (drop["stuck_at_broadcast"] and drop["broadcasts"] <= 1):
        return f"stuck at broadcast {drop['stuck_at_broadcast']}"
    when = (f"dropped after {drop['dropped_after_s']:.1f} s" if drop["dropped_after_s"] is not None
            else f"not dropped in {drop['seconds']:.0f} s")
    text = f"{drop['p99_ms']:.1f} / max {drop['max_ms']:.1f} ({drop['broadcasts']} broadcasts; {when})"
    if drop["stuck_at_broadcast"]:
        text += f", stuck at broadcast {drop['stuck_at_broadcast']}"
    return text


def table(data: dict[str, Any]) -> str:
    """The README's table, from one run."""
    lat = data["latency"]
    rows = ["| contender | all reading: p50 / p99 ms (p99 range over rounds) | 5 stalled, steady: p50 / p99 ms "
            "| drop window: p99 / max ms | server CPU per broadcast; full GCs (longest) |", "|---|---|---|---|---|"]
    for c in [*CONTENDERS, CONTROL]:
        healthy, stalled = lat["healthy"][c], lat["stalled"][c]
        full = healthy["gc_runs"][2] + stalled["gc_runs"][2]
        longest = max(healthy["gc_max_ms"][2], stalled["gc_max_ms"][2])
        cpu = healthy["server_cpu_ms_per_broadcast"]
        drop = _drop_cell(lat["drop"][c]) if c in lat["drop"] else "(never stalled)"
        rows.append(f"| {LABELS[c]} | {_cell(healthy)} | {_cell(stalled)} | {drop} "
                    f"| {'-' if cpu is None else f'{cpu:.1f} ms'}; {full}" + (f" ({longest:.0f} ms)" if full else "")
                    + " |")
    return "\n".join(rows)


def plot(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat_data = data["latency"]
    shown = [*CONTENDERS, CONTROL]
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.13
    bars = [("healthy", "p50_ms", "p50 all reading"), ("healthy", "p99_ms", "p99 all reading"),
            ("stalled", "p50_ms", "p50 5 stalled (steady)"), ("stalled", "p99_ms", "p99 5 stalled (steady)"),
            ("drop", "p99_ms", "p99 drop window"), ("drop", "max_ms", "max drop window")]
    colors = ["#8FAADC", "#4C72B0", "#E8A0A2", "#C44E52", "#F2C46D", "#D08C00"]
    for i, ((phase, stat, label), color) in enumerate(zip(bars, colors, strict=True)):
        offset = (i - 2.5) * width
        for k, c in enumerate(shown):
            if c not in lat_data[phase]:
                continue  # the twin has no drop window
            entry = lat_data[phase][c]
            value = entry.get(stat)
            x = k + offset
            if value is None or entry.get("stuck_before") or (phase == "drop" and entry.get("stuck_at_broadcast")):
                lat.text(x, 0.02, "stuck", transform=lat.get_xaxis_transform(), rotation=90, fontsize=7,
                         va="bottom", ha="center")
                continue
            lat.bar(x, value, width, color=color, label=label if k == 0 else None)
            spread = entry.get(f"{stat[:3]}_spread_ms")
            if spread:
                lat.vlines(x, spread[0], spread[1], color="black", linewidth=1)
    lat.set_xticks(range(len(shown)), [LABELS[c].replace(", ", ",\n").replace(" + ", "\n+ ") for c in shown],
                   fontsize=7)
    lat.set_yscale("log")
    lat.set_ylabel("delivery latency, ms (log scale; lower is better)")
    meta = data.get("meta", {})
    load = meta.get("load_average")
    lat.set_title(f"One broadcast to 1,000 clients: median of {lat_data['rounds']} rounds x {lat_data['per_round']}"
                  f" (lines: round range)" + (f"; load {load[0]:.1f}" if load else ""), fontsize=9)
    lat.legend(fontsize=7, ncol=3)
    names = list(data["memory"])
    mem.bar(names, [data["memory"][n]["kib_per_connection"] for n in names], color="#55A868")
    mem.axhline(40, color="#C44E52", linestyle="--", label="target 40 KiB")
    mem.set_ylabel("server RSS per idle connection, KiB")
    mem.set_title("Memory at 1,000 idle connections", fontsize=9)
    mem.tick_params(axis="x", labelsize=7)
    mem.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def dumps(value: Any, depth: int = 0) -> str:
    """JSON with the outer levels indented and the details (rounds, timelines) one per line."""
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and depth < 4:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}" if items else "{}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(pad + json.dumps(v) for v in value) + "\n" + "  " * depth + "]"
    return json.dumps(value)


def main() -> int:
    started = time.monotonic()
    load_before = os.getloadavg()
    data = measure()
    data["targets"] = targets(data)
    data["meta"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fanout.json").write_text(dumps(data) + "\n")
    plot(data, RESULTS / "fanout.png")
    print(table(data))
    for name, m in data["memory"].items():
        print(f"memory {name:16} {m['kib_per_connection']} KiB per idle connection")
    for name, t in data["targets"].items():
        verdict = "-" if t["met"] is None else "met" if t["met"] else "MISSED"
        print(f"target {name}: {t['measured']} ({t['target']}) {verdict}")
    print(f"load average {data['meta']['load_average_before']} before, {data['meta']['load_average']} after")
    print(f"wrote {RESULTS / 'fanout.json'} and {RESULTS / 'fanout.png'} in {data['meta']['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
