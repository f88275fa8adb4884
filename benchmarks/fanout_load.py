"""The load generator for the fan-out benchmark: its own process, raw loopback WebSocket clients.

    python -m benchmarks.fanout_load latency --servers course:PORT plain:PORT anchor:PORT [--unstalled NAME ...]
    python -m benchmarks.fanout_load memory --server course:PORT --pid PID [--deflate]

Prints one JSON document on stdout. The clients are a minimal asyncio protocol
(handshake, unmasked server frames, pong), so a thousand of them cost the load
generator little and the receive time is taken as the bytes arrive.

The latency run has three phases, all with 1,000 reading clients per contender:

1. ``healthy``: ``ROUNDS`` rounds; in each round every contender makes
   ``PER_ROUND`` broadcasts, one after another, the order rotating per round,
   so a noisy neighbour (other processes on the machine) hurts every contender
   alike. Each round gives a p50 and p99 per contender; the summary is the
   median over rounds and the spread (lowest and highest round).
2. ``drop``: 5 more clients per contender stop reading with a full send
   buffer; each contender in turn keeps broadcasting from that moment until
   its server has dropped the 5 (it reports its open members), plus
   ``AFTER_DROP`` seconds, at most ``DROP_WINDOW`` seconds. A drop is a
   one-off event, so this window is reported on its own.
3. ``stalled``: the steady state that follows, measured like ``healthy``
   (the stalled clients stay connected and keep not reading).

A contender named with ``--unstalled`` never gets stalled readers: a twin of
another contender, it is the control that the stalled one is compared with,
round by round.

Everything is bounded: each broadcast has a deadline (a contender that misses
it is "stuck" and skipped from then on), and so has the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

CLIENTS = 1000
STALLED = 5
ROUNDS = 9
PER_ROUND = 10  # broadcasts per contender per round
GAP = 0.02  # seconds between two broadcasts
DEADLINE = 3.0  # seconds for one broadcast to reach every healthy client
DROP_WINDOW = 5.0  # at most this long after the stall
AFTER_DROP = 1.0  # keep measuring this long after the server dropped the stalled members
WELCOME = 4 * 2**20  # bytes sent to each stalled reader first: its send buffer is full from the start


@dataclass
class Tally:
    expected: int = 0
    received: dict[int, list[float]] = field(default_factory=dict)  # seq -> latency of each delivery
    done: dict[int, asyncio.Event] = field(default_factory=dict)

    def arrived(self, seq: int, latency: float) -> None:
        got = self.received.setdefault(seq, [])
        got.append(latency)
        if len(got) >= self.expected and seq in self.done:
            self.done[seq].set()


class Client(asyncio.Protocol):
    """A WebSocket client that parses server frames as they arrive; ``stall()`` stops reading for good.

    A member counts broadcasts into its tally; the control client queues the text replies it gets.
    """

    def __init__(self, path: str, tally: Tally | None, deflate: bool) -> None:
        self.path, self.tally, self.deflate = path, tally, deflate
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.replies: asyncio.Queue[str] = asyncio.Queue()
        self.buffer = bytearray()
        self.handshaken = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        key = base64.b64encode(os.urandom(16)).decode()
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if self.deflate else ""
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                              f"{offer}\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[:end + 4]
            self.handshaken = True
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                return
            self.opened.set_result(None)
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from(">H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from(">Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            if opcode == 1 and self.tally is not None and buffer[start] in b'S"':
                at = start + (buffer[start] == 34)  # the course sends the text as is; skip a quote if any
                self.tally.arrived(int(buffer[at + 1:at + 7]), now - float(buffer[at + 9:at + 26]))
            elif opcode == 1 and self.tally is None:
                self.replies.put_nowait(bytes(buffer[start:start + length]).decode())
            elif opcode == 9:
                self.send(0xA, bytes(buffer[start:start + length]))
            elif opcode == 8:
                self.closed = True
            del buffer[:start + length]

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def stall(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))


async def open_clients(port: int, path: str, n: int, tally: Tally | None, *, deflate: bool = False,
                       receive_buffer: int | None = None, batch: int = 100) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []

    async def one() -> Client:
        transport, client = await loop.create_connection(lambda: Client(path, tally, deflate), "127.0.0.1", port)
        if receive_buffer:
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        await asyncio.wait_for(client.opened, 30)
        return client

    for start in range(0, n, batch):
        clients += await asyncio.gather(*(one() for _ in range(min(batch, n - start))))
    return clients


def close_all(clients: list[Client]) -> None:
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


# -- measuring ---------------------------------------------------------------------------
@dataclass
class Shot:
    """One broadcast as the clients saw it."""

    latencies: list[float]
    complete: bool
    at: float = 0.0  # seconds since the stall (drop window only)
    gc_max_ms: float | None = None  # the server's longest collection since the previous stats (drop window only)
    members: int | None = None
    cpu_ms: float | None = None  # the server's CPU time since the previous stats (drop window only)


@dataclass
class Contender:
    name: str
    port: int
    tally: Tally
    control: Client | None = None
    members: list[Client] = field(default_factory=list)
    stalled: list[Client] = field(default_factory=list)
    seq: int = 0
    stuck_at: tuple[str, int] | None = None  # (phase, broadcast) that missed its deadline; skipped from then on
    unstalled: bool = False  # a control: never gets stalled readers

    async def broadcast(self) -> Shot:
        assert self.control is not None
        self.seq += 1
        seq = self.seq
        self.tally.done[seq] = done = asyncio.Event()
        self.control.send(0x1, b"go")
        try:
            await asyncio.wait_for(done.wait(), DEADLINE)
        except TimeoutError:
            pass
        self.tally.done.pop(seq)
        latencies = self.tally.received.pop(seq, [])
        return Shot(latencies, len(latencies) >= self.tally.expected)

    async def stats(self) -> dict[str, Any] | None:
        """The server's open members and GC pauses since the last call; None when it does not answer."""
        assert self.control is not None
        self.control.send(0x1, b"stats")
        try:
            reply = await asyncio.wait_for(self.control.replies.get(), 2.0)
        except TimeoutError:
            return None
        result: dict[str, Any] = json.loads(reply)
        return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 2)


def pooled(shots: list[Shot]) -> dict[str, Any]:
    latencies = [lat for shot in shots for lat in shot.latencies]
    return {"broadcasts": len(shots), "complete": sum(shot.complete for shot in shots),
            "p50_ms": ms(statistics.median(latencies)) if latencies else None,
            "p99_ms": ms(percentile(latencies, 99)) if latencies else None,
            "max_ms": ms(max(latencies)) if latencies else None}


def rounds_summary(rounds: list[list[Shot]], gc: list[dict[str, Any]], stuck_at: tuple[str, int] | None,
                   phase: str) -> dict[str, Any]:
    per_round = [pooled(shots) | {"gc": g} for shots, g in zip(rounds, gc, strict=True)]
    cpu = [g["server_cpu_ms"] / len(shots) for shots, g in zip(rounds, gc, strict=True) if g and shots]
    measured = [r for r in per_round if r["p99_ms"] is not None and r["complete"] == r["broadcasts"]]
    p50s, p99s = [r["p50_ms"] for r in measured], [r["p99_ms"] for r in measured]
    return {
        "rounds": len(rounds), "rounds_complete": len(measured),
        "p50_ms": statistics.median(p50s) if p50s else None,
        "p99_ms": statistics.median(p99s) if p99s else None,
        "p50_spread_ms": [min(p50s), max(p50s)] if p50s else None,
        "p99_spread_ms": [min(p99s), max(p99s)] if p99s else None,
        "server_cpu_ms_per_broadcast": round(statistics.median(cpu), 2) if cpu else None,
        "gc_runs": [sum(g["runs"][i] for g in gc if g) for i in range(3)],
        "gc_max_ms": [max([g["max_ms"][i] for g in gc if g], default=0.0) for i in range(3)],
        "pooled": pooled([shot for shots in rounds for shot in shots]),
        "stuck_at_broadcast": stuck_at[1] if stuck_at and stuck_at[0] == phase else None,
        "stuck_before": stuck_at is not None and stuck_at[0] != phase,
        "per_round": per_round,
    }


def gc_brief(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"runs": stats["gc_runs"], "max_ms": stats["gc_max_ms"], "total_ms": stats["gc_total_ms"],
            "server_cpu_ms": stats["cpu_ms"]}


async def run_rounds(contenders: list[Contender], phase: str) -> dict[str, dict[str, Any]]:
    shots: dict[str, list[list[Shot]]] = {c.name: [] for c in contenders}
    gc: dict[str, list[dict[str, Any] | None]] = {c.name: [] for c in contenders}
    for r in range(ROUNDS):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]  # rotate who goes first
        for c in order:
            batch: list[Shot] = []
            if c.stuck_at is None:
                await c.stats()  # zero the server's GC counters
            for n in range(PER_ROUND):
                if c.stuck_at is not None:
                    break
                shot = await c.broadcast()
                batch.append(shot)
                if not shot.complete:
                    c.stuck_at = (phase, r * PER_ROUND + n + 1)
                await asyncio.sleep(GAP)
            shots[c.name].append(batch)
            gc[c.name].append(gc_brief(await c.stats()) if c.stuck_at is None else None)
    return {c.name: rounds_summary(shots[c.name], gc[c.name], c.stuck_at, phase) for c in contenders}


async def stall(c: Contender) -> None:
    c.stalled = await open_clients(c.port, f"/feed?welcome={WELCOME}", STALLED, None, receive_buffer=4096,
                                   batch=STALLED)
    for client in c.stalled:
        client.stall()


async def drop_window(c: Contender) -> dict[str, Any]:
    """From the moment STALLED readers stop until their server dropped them (+AFTER_DROP), at most DROP_WINDOW."""
    await c.stats()
    await stall(c)
    started = time.monotonic()
    shots: list[Shot] = []
    dropped_at: float | None = None
    while c.stuck_at is None and time.monotonic() - started < DROP_WINDOW:
        if dropped_at is not None and time.monotonic() - started >= dropped_at + AFTER_DROP:
            break
        shot = await c.broadcast()
        shot.at = round(time.monotonic() - started, 3)
        shots.append(shot)
        stats = await c.stats()
        if not shot.complete or stats is None:  # its broadcasting is blocked by a stalled member
            c.stuck_at = ("drop", len(shots) + (shot.complete and stats is None))
            break
        shot.gc_max_ms, shot.members, shot.cpu_ms = max(stats["gc_max_ms"]), stats["members"], stats["cpu_ms"]
        if dropped_at is None and stats["members"] <= CLIENTS:
            dropped_at = time.monotonic() - started
        await asyncio.sleep(GAP)
    slowest = sorted(shots, key=lambda shot: max(shot.latencies, default=0.0), reverse=True)[:5]
    return pooled(shots) | {
        "seconds": round(time.monotonic() - started, 2),
        "dropped_after_s": None if dropped_at is None else round(dropped_at, 2),
        "stuck_at_broadcast": c.stuck_at[1] if c.stuck_at else None,
        "series": [[shot.at, ms(statistics.median(shot.latencies)) if shot.latencies else None,
                    ms(max(shot.latencies, default=0.0)), shot.gc_max_ms, shot.members, shot.cpu_ms] for shot in shots],
        "series_columns": ["at_s", "p50_ms", "max_ms", "gc_max_ms", "members", "server_cpu_ms"],
        "slowest": [{"at_s": shot.at, "max_ms": ms(max(shot.latencies, default=0.0)), "gc_max_ms": shot.gc_max_ms,
                     "members_after": shot.members, "server_cpu_ms": shot.cpu_ms} for shot in slowest],
    }


async def latency(servers: dict[str, int], unstalled: list[str]) -> dict[str, Any]:
    contenders = []
    for name, port in servers.items():
        tally = Tally(expected=CLIENTS)
        c = Contender(name, port, tally, unstalled=name in unstalled)
        c.members = await open_clients(port, "/feed", CLIENTS, tally)
        c.control = (await open_clients(port, "/control", 1, None))[0]
        contenders.append(c)
    try:
        await asyncio.sleep(1.0)  # let every server settle (writers parked, buffers empty)
        for c in contenders:  # warm-up, not measured
            for _ in range(3):
                await c.broadcast()
                await asyncio.sleep(GAP)
        healthy = await run_rounds(contenders, "healthy")
        drop = {c.name: await drop_window(c) for c in contenders if not c.unstalled}
        stalled = await run_rounds(contenders, "stalled")
    finally:
        for c in contenders:
            close_all(c.members + c.stalled + ([c.control] if c.control else []))
    return {"clients": CLIENTS, "stalled_readers": STALLED, "rounds": ROUNDS, "per_round": PER_ROUND,
            "gap_s": GAP, "deadline_s": DEADLINE, "drop_window_s": DROP_WINDOW, "after_drop_s": AFTER_DROP,
            "unstalled": unstalled, "healthy": healthy, "drop": drop, "stalled": stalled}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def memory(port: int, pid: int, deflate: bool) -> dict[str, Any]:
    warm = await open_clients(port, "/feed", 20, None, deflate=deflate)
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    idle = await open_clients(port, "/feed", CLIENTS, None, deflate=deflate)
    await asyncio.sleep(2.0)
    after = rss_kib(pid)
    close_all(warm + idle)
    return {"connections": CLIENTS, "deflate_offered": deflate, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_connection": round((after - before) / CLIENTS, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["latency", "memory"])
    parser.add_argument("--servers", nargs="*", default=[])
    parser.add_argument("--unstalled", nargs="*", default=[], help="contenders that never get stalled readers")
    parser.add_argument("--server")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    import uvloop

    if args.mode == "latency":
        servers = {spec.split(":")[0]: int(spec.split(":")[1]) for spec in args.servers}
        result = uvloop.run(asyncio.wait_for(latency(servers, args.unstalled), 240))
    else:
        result = uvloop.run(asyncio.wait_for(memory(int(args.server.split(":")[1]), args.pid, args.deflate), 60))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
