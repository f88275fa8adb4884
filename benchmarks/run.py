"""`make bench`: how long the learner waits. Medians over repeated runs, written as JSON and a PNG.

    python -m benchmarks.run [--repeat 5] [--skip-notebooks] [--skip-fanout] [--fanout-only] [--skip-ch08] [--ch08-only]

Measures
- the wall time of `course check <id> --solutions` for chosen exercises (target for ch01_gather: <= 1.5 s),
- the wall time of each notebook run top to bottom in solutions mode,
- fan-out at 1,000 clients (benchmarks/fanout.py: latency, stalled readers, memory per connection;
  results/fanout.json and fanout.png),
- chapter 08 at scale: 3 workers through Redis Pub/Sub and Streams vs one worker without Redis, 1,000 clients,
  100 messages/s (benchmarks/ch08_scaling.py; results/ch08_scaling.json and ch08_scaling.png).
Quote medians and ratios from one run: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHECKS = ["ch00_warmup", "ch01_gather"]


def time_check(exercise_id: str, repeat: int) -> dict[str, object]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "course_app.cli", "check", exercise_id, "--solutions"],
                             capture_output=True, text=True, cwd=ROOT)
        runs.append(time.perf_counter() - started)
        if out.returncode != 0:
            raise SystemExit(f"{exercise_id} did not pass:\n{out.stdout}{out.stderr}")
    return {"median_s": statistics.median(runs), "runs_s": runs}


def time_notebook(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - started


def plot(data: dict[str, dict[str, object]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checks = data["checks"]
    notebooks = data["notebooks"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.bar(list(checks), [v["median_s"] for v in checks.values()], color="#4C72B0")  # type: ignore[index]
    a.axhline(1.5, color="#C44E52", linestyle="--", label="target 1.5 s")
    a.set_title("course check --solutions (median wall time)")
    a.set_ylabel("seconds")
    a.legend()
    b.barh(list(notebooks), list(notebooks.values()), color="#55A868")  # type: ignore[arg-type]
    b.set_title("notebook, top to bottom (solutions mode)")
    b.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--fanout-only", action="store_true", help="only the fan-out benchmark (about two minutes)")
    parser.add_argument("--skip-ch08", action="store_true")
    parser.add_argument("--ch08-only", action="store_true", help="only the chapter 08 scaling benchmark (about a minute)")
    args = parser.parse_args()
    if not args.skip_ch08 and not args.fanout_only:
        from benchmarks import ch08_scaling

        ch08_scaling.main([])
        if args.ch08_only:
            return 0
    if not args.skip_fanout:
        from benchmarks import fanout

        fanout.main()
        if args.fanout_only:
            return 0
    os.environ["COURSE_SOLUTIONS"] = "1"
    os.environ["COURSE_ROOT"] = str(ROOT)
    data: dict[str, dict[str, object]] = {"checks": {}, "notebooks": {}}
    for exercise_id in CHECKS:
        data["checks"][exercise_id] = time_check(exercise_id, args.repeat)
        print(f"course check {exercise_id}: median {data['checks'][exercise_id]['median_s']:.2f} s")  # type: ignore[index]
    if not args.skip_notebooks:
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            data["notebooks"][path.stem] = seconds = time_notebook(path)
            print(f"notebook {path.stem}: {seconds:.1f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (RESULTS / "bench.json").write_text(json.dumps({"meta": meta, **data}, indent=2))
    plot(data, RESULTS / "bench.png")
    print(f"wrote {RESULTS / 'bench.json'} and {RESULTS / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
