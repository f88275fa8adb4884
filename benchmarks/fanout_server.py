"""The servers under test for the fan-out benchmark, one contender per process.

    python -m benchmarks.fanout_server course|course_default_gc|plain|anchor PORT [--deflate]

Each serves two WebSocket paths on 127.0.0.1:PORT:

* ``/feed``: a member of the broadcast (it reads, to notice a goodbye).
  ``/feed?welcome=N`` first sends that member N bytes directly: to a client
  that never reads, that is a full send buffer, the steady state of a stalled reader.
* ``/control``: the text frame ``go`` triggers one broadcast of
  ``S<seq:06d> T<monotonic:017.6f> <padding>``; the stamp is taken just before the broadcast starts.
  The text frame ``stats`` is answered with JSON: how many ``/feed`` members are
  still open, and the garbage collector's pauses since the last ``stats``
  (timed with ``gc.callbacks``), so the load generator sees when the stalled
  members are dropped and whether a slow broadcast met a collection.

The contenders:

* ``course``: the course's ``Broadcast`` (memory backend) with one writer task per member, on uvicorn,
  with the garbage-collector settings the course recommends for fan-out (``realtime.gc_tuning.tune_gc``);
* ``course_default_gc``: the same with CPython's default collector settings;
* ``plain``: a list of sockets and a loop of ``await ws.send_text(...)``, on uvicorn;
* ``anchor``: the ``websockets`` library's own server and its synchronous ``broadcast()``.
"""


import argparse
import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

PAD = 200  # bytes of padding per message: a small JSON update's size


def _message(seq: int) -> str:
    return f"S{seq:06d} T{time.monotonic():017.6f} " + "x" * PAD


class GcPauses:
    """Counts and times the collector's runs per generation (``gc.callbacks``), and the process's CPU time."""

    def __init__(self) -> None:
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.cpu = time.process_time()
        self.runs = [0, 0, 0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.max_ms = [0.0, 0.0, 0.0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - self.started)
        gen = info["generation"]
        self.runs[gen] += 1
        self.total_ms[gen] += ms
        self.max_ms[gen] = max(self.max_ms[gen], ms)

    def report(self, members: int) -> str:
        text = json.dumps({"members": members, "cpu_ms": round(1000 * (time.process_time() - self.cpu), 1),
                           "gc_runs": self.runs,
                           "gc_total_ms": [round(x, 2) for x in self.total_ms],
                           "gc_max_ms": [round(x, 2) for x in self.max_ms]})
        self.reset()
        return text


PAUSES = GcPauses()


def course_app(tuned: bool) -> Any:
    from fastapi import FastAPI, WebSocket

    from course_app.realtime.broadcast import Broadcast, Event
    from course_app.realtime.gc_tuning import tune_gc
    from course_app.realtime.tasks import first_completed
    from course_app.realtime.writer import send_events

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Broadcast("memory://", queue_size=64) as app.state.broadcast:
            if tuned:
                tune_gc()
            yield

    app = FastAPI(lifespan=lifespan)
    open_members = 0

    def plain(event: Event) -> str:
        return str(event.message)

    @app.websocket("/feed")
    async def feed(websocket: WebSocket, welcome: int = 0) -> None:
        nonlocal open_members
        await websocket.accept()
        open_members += 1
        try:
            if welcome:
                await websocket.send_bytes(b"\0" * welcome)
            async with app.state.broadcast.subscribe("feed") as subscriber:
                async def read() -> None:
                    while (await websocket.receive())["type"] != "websocket.disconnect":
                        pass
                await first_completed(send_events(websocket, subscriber, render=plain), read())
        finally:
            open_members -= 1

    @app.websocket("/control")
    async def control(websocket: WebSocket) -> None:
        await websocket.accept()
        seq = 0
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text") == "stats":
                await websocket.send_text(PAUSES.report(open_members))
                continue
            seq += 1
            await app.state.broadcast.publish("feed", _message(seq))

    return app


def plain_app() -> Any:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    app = FastAPI()
    members: list[WebSocket] = []

    @app.websocket("/feed")
    async def feed(websocket: WebSocket, welcome: int = 0) -> None:
        await websocket.accept()
        if welcome:
            await websocket.send_bytes(b"\0" * welcome)
        members.append(websocket)
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            members.remove(websocket)

    @app.websocket("/control")
    async def control(websocket: WebSocket) -> None:
        await websocket.accept()
        seq = 0
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text") == "stats":
                await websocket.send_text(PAUSES.report(len(members)))
                continue
            seq += 1
            text = _message(seq)
            for member in list(members):
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await member.send_text(text)

    return app


async def serve_anchor(port: int, deflate: bool) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    members: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else "/"
        if path.startswith("/control"):
            seq = 0
            with contextlib.suppress(ConnectionClosed):
                async for text in ws:
                    if text == "stats":
                        await ws.send(PAUSES.report(len(members)))
                        continue
                    seq += 1
                    broadcast(members, _message(seq))
            return
        if "welcome=" in path:
            async def welcome(size: int) -> None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(b"\0" * size)
            asyncio.get_running_loop().create_task(welcome(int(path.rsplit("=", 1)[1])))
        members.add(ws)
        try:
            await ws.wait_closed()
        finally:
            members.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression="deflate" if deflate else None,
                     max_size=2**20, max_queue=16) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["course", "course_default_gc", "plain", "anchor"])
    parser.add_argument("port", type=int)
    parser.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate when a client offers it")
    args = parser.parse_args()
    import uvloop

    if args.kind == "anchor":
        uvloop.run(serve_anchor(args.port, args.deflate))
        return
    import uvicorn

    app = plain_app() if args.kind == "plain" else course_app(tuned=args.kind == "course")
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                            loop="uvloop", ws="websockets-sansio", ws_per_message_deflate=args.deflate,
                            timeout_graceful_shutdown=1)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
