"""The load generator for the fan-out benchmark: its own process, raw loopback WebSocket clients.

    python -m benchmarks.fanout_load latency --servers course:PORT plain:PORT anchor:PORT
    python -m benchmarks.fanout_load memory --server course:PORT --pid PID [--deflate]

Prints one JSON document on stdout. The clients are a minimal asyncio protocol
(handshake, unmasked server frames, pong), so a thousand of them cost the load
generator little and the receive time is taken as the bytes arrive.
Everything is bounded: each broadcast has a deadline, and so has each phase.
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
ROUNDS = 5
PER_ROUND = 10  # broadcasts per contender per round: 5 x 10 = 50 each, interleaved
DEADLINE = 3.0  # seconds for one broadcast to reach every healthy client
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
    """A WebSocket client that parses server frames as they arrive; ``stall()`` stops reading for good."""

    def __init__(self, path: str, tally: Tally | None, deflate: bool) -> None:
        self.path, self.tally, self.deflate = path, tally, deflate
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
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


@dataclass
class Contender:
    name: str
    port: int
    tally: Tally
    control: Client | None = None
    members: list[Client] = field(default_factory=list)
    stalled: list[Client] = field(default_factory=list)
    seq: int = 0
    gave_up_at: int | None = None  # the broadcast that missed its deadline (later ones are skipped)


async def broadcast_once(c: Contender) -> None:
    assert c.control is not None
    c.seq += 1
    c.tally.done[c.seq] = done = asyncio.Event()
    c.control.send(0x1, b"go")
    try:
        await asyncio.wait_for(done.wait(), DEADLINE)
    except TimeoutError:
        c.gave_up_at = c.seq


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summary(c: Contender, first_seq: int) -> dict[str, Any]:
    latencies = [lat for seq, lats in c.tally.received.items() if seq >= first_seq for lat in lats]
    seqs = range(first_seq, c.seq + 1)
    complete = [seq for seq in seqs if len(c.tally.received.get(seq, ())) >= c.tally.expected]
    return {
        "broadcasts": len(seqs), "complete": len(complete), "deliveries": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 99), 2) if latencies else None,
        "max_ms": round(1000 * max(latencies), 2) if latencies else None,
        "stuck_at_broadcast": None if c.gave_up_at is None else c.gave_up_at - first_seq + 1,
        "slowest": [{"broadcast": seq - first_seq + 1, "max_ms": ms} for ms, seq in sorted(
            ((round(1000 * max(c.tally.received.get(seq) or [0.0]), 1), seq) for seq in seqs), reverse=True)[:5]],
    }


async def run_rounds(contenders: list[Contender]) -> dict[str, dict[str, Any]]:
    first = {c.name: c.seq + 1 for c in contenders}
    for r in range(ROUNDS):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]  # rotate who goes first
        for c in order:
            for _ in range(PER_ROUND):
                if c.gave_up_at is not None:
                    c.seq += 1  # counted as a broadcast that never completed
                    continue
                await broadcast_once(c)
                await asyncio.sleep(0.02)
    return {c.name: summary(c, first[c.name]) for c in contenders}


async def latency(servers: dict[str, int]) -> dict[str, Any]:
    contenders = []
    for name, port in servers.items():
        tally = Tally(expected=CLIENTS)
        c = Contender(name, port, tally)
        c.members = await open_clients(port, "/feed", CLIENTS, tally)
        c.control = (await open_clients(port, "/control", 1, None))[0]
        contenders.append(c)
    await asyncio.sleep(1.0)  # let every server settle (writers parked, buffers empty)
    for c in contenders:  # warm-up, not measured
        for _ in range(3):
            await broadcast_once(c)
    healthy = await run_rounds(contenders)
    for c in contenders:
        c.stalled = await open_clients(c.port, f"/feed?welcome={WELCOME}", STALLED, None, receive_buffer=4096, batch=STALLED)
        for client in c.stalled:
            client.stall()
    await asyncio.sleep(0.5)
    stalled = await run_rounds(contenders)
    result = {"clients": CLIENTS, "stalled_readers": STALLED, "broadcasts_each": ROUNDS * PER_ROUND,
              "healthy": healthy, "with_stalled": stalled}
    for c in contenders:
        close_all(c.members + c.stalled + ([c.control] if c.control else []))
    return result


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
    parser.add_argument("--server")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    import uvloop

    if args.mode == "latency":
        servers = {spec.split(":")[0]: int(spec.split(":")[1]) for spec in args.servers}
        result = uvloop.run(asyncio.wait_for(latency(servers), 240))
    else:
        result = uvloop.run(asyncio.wait_for(memory(int(args.server.split(":")[1]), args.pid, args.deflate), 60))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
