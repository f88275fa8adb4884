"""The ``course`` command: check, list, hint, reset, watch, doctor, redis, serve."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from course_app.grading.registry import UnknownExercise

if TYPE_CHECKING:
    from course_app._lifecycle import StartStop

__all__ = ["main"]


def _cmd_check(args: argparse.Namespace) -> int:
    from course_app.grading import check_and_report

    results = check_and_report(args.targets, solutions=args.solutions or None, verbose=args.verbose)
    return 0 if results and all(r.passed for r in results) else 1


def _cmd_list(args: argparse.Namespace) -> int:
    from course_app.grading import registry, state

    rows = [
        {"id": e.id, "chapter": e.chapter, "title": e.title, "status": state.last_status(e.id)}
        for e in registry.all_exercises()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"ch{row['chapter']:02d}  {row['id']:<28} {row['status']:<10} {row['title']}")
    return 0


def _cmd_hint(args: argparse.Namespace) -> int:
    from course_app.grading import hint_text

    print(hint_text(args.id))
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    from course_app.grading import registry
    from course_app.grading.backups import restore_pristine
    from course_app.grading.paths import exercise_path, pristine_source
    from course_app.grading.tracing import relative

    registry.get(args.id)
    path = exercise_path(args.id, solutions=False)
    try:
        original = pristine_source(args.id)
    except LookupError as err:
        print(err, file=sys.stderr)
        return 1
    backup = restore_pristine(path, original)
    if backup is not None:
        print(f"Your version is saved as {relative(backup)} (earlier backups are kept too).")
    elif path.exists():
        print(f"{path.name} was already the original; nothing to back up.")
    print(f"Restored the original {relative(path)}.")
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from watchfiles import watch

    from course_app.grading import registry
    from course_app.grading.paths import exercise_path

    exercises = registry.select(args.targets)
    files = {str(exercise_path(e.id, args.solutions or None).resolve()): e.id for e in exercises}
    folders = {os.path.dirname(f) for f in files}
    ns = argparse.Namespace(targets=[e.id for e in exercises], solutions=args.solutions, verbose=False)
    _cmd_check(ns)
    print("Watching for saves... (Ctrl+C to stop)", flush=True)
    try:
        for changes in watch(*folders, debounce=300, raise_interrupt=False):
            changed = sorted({files[p] for _, p in changes if p in files})
            if changed:
                print(f"\n--- {', '.join(changed)} changed ---", flush=True)
                _cmd_check(argparse.Namespace(targets=changed, solutions=args.solutions, verbose=False))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from course_app.doctor import run_doctor

    return run_doctor()


def _cmd_redis(args: argparse.Namespace) -> int:
    import time

    from course_app.redis_server import EmbeddedRedis, RedisUnavailable

    try:
        with EmbeddedRedis(port=args.port) as server:
            print(f"Redis is running at {server.url} (binary: {server.binary})")
            print(f"Use it from another terminal:  export REDIS_URL={server.url}")
            print("Ctrl+C stops it.", flush=True)
            while server.running:
                time.sleep(0.5)
    except RedisUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _serve_until_interrupted(make: Callable[[], StartStop], describe: Callable[[Any], list[str]]) -> int:
    """Start a server, say where it is, keep it up until Ctrl+C; a start-up error exits 1."""
    import time

    from course_app.server import ServerError

    try:
        with make() as running:
            print("\n".join([*describe(running), "Ctrl+C stops it."]), flush=True)
            while getattr(running, "running", True):
                time.sleep(0.5)
    except ServerError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from course_app.cluster import Cluster
    from course_app.server import BackgroundServer

    if args.workers > 1:
        return _serve_until_interrupted(
            lambda: Cluster(workers=args.workers, port=args.port),
            lambda c: [f"course_app: {args.workers} workers at {c.url} sharing Redis {c.redis_url}"],
        )
    return _serve_until_interrupted(
        lambda: BackgroundServer(port=args.port),
        lambda s: [f"course_app at {s.url}  (pages: {s.url}/static/echo.html)"],
    )


def _cmd_board(args: argparse.Namespace) -> int:
    from course_app.board import create_board_app, new_join_code
    from course_app.server import BackgroundServer

    code = (args.code or new_join_code()).upper()

    def describe(server: Any) -> list[str]:
        lines = [
            f"The board is live at {server.url}/   join code: {code}",
            f"Attendees join with:  course join {server.url} <their name> --code {code}",
        ]
        if args.host == "127.0.0.1":
            lines.append("(only this machine can reach it; use --host 0.0.0.0 for attendees on your network)")
        lines.append("Results live in memory: after a restart, pass --code to keep the same join code.")
        return lines

    return _serve_until_interrupted(
        lambda: BackgroundServer(create_board_app(code), host=args.host, port=args.port), describe
    )


def _cmd_join(args: argparse.Namespace) -> int:
    from course_app.grading import state
    from course_app.grading.reporter import BoardProblem, join

    url = args.url.rstrip("/")
    try:
        name = join(url, args.name, args.code)
    except BoardProblem as problem:
        print(f"Not joined: {problem}", file=sys.stderr)
        return 1
    state.join_board(url, name, args.code.upper())
    print(f"Joined the board at {url} as {name!r}: your checks will report there.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Work through the FastAPI real-time course.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="check exercises: an id, a chapter (ch04 or 4), or all")
    p.add_argument("targets", nargs="*")
    p.add_argument("--solutions", action="store_true", help="check solutions/ instead of exercises/")
    p.add_argument("-v", "--verbose", action="store_true", help="show every step, also for passing exercises")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("list", help="every exercise with its status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("hint", help="the next hint for an exercise")
    p.add_argument("id")
    p.set_defaults(func=_cmd_hint)

    p = sub.add_parser("reset", help="restore the original exercise file (yours is kept as a numbered .bak)")
    p.add_argument("id")
    p.set_defaults(func=_cmd_reset)

    p = sub.add_parser("watch", help="re-check on every save")
    p.add_argument("targets", nargs="*")
    p.add_argument("--solutions", action="store_true")
    p.set_defaults(func=_cmd_watch)

    p = sub.add_parser("doctor", help="check this machine is ready for the course")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("redis", help="run the embedded Redis in the foreground")
    p.add_argument("--port", type=int, default=0)
    p.set_defaults(func=_cmd_redis)

    p = sub.add_parser("serve", help="run course_app on 127.0.0.1")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("board", help="instructor: a live board of who has passed what")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--code", help="the join code to use (default: a new random one)")
    p.set_defaults(func=_cmd_board)

    p = sub.add_parser("join", help="report your check results to the instructor's board")
    p.add_argument("url", help="the board's address, e.g. http://10.0.0.5:8100")
    p.add_argument("name", help="your name as the board shows it (1 to 40 characters)")
    p.add_argument("--code", required=True, help="the join code the instructor's board shows")
    p.set_defaults(func=_cmd_join)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `course list | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except UnknownExercise as err:
        print(err, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
