"""The load generator for the chapter 08 benchmark: its own process, 1,000 raw loopback WebSocket clients.

    python -m benchmarks.ch08_load --port P --ws /scale/ws --publish /scale/publish --workers 3

Opens ``--clients`` WebSockets (each learns its worker's PID from the hello),
then POSTs ``--rate`` messages a second for ``--seconds`` to the publish route
over a few keep-alive connections. Each message's text is ``<seq>:<send time>``
(``time.monotonic()``, the same clock in every process on this machine), so
each client takes a delivery's latency as its bytes arrive. After the last
publish it waits until every accepted message reached every client still open,
at most ``--drain`` seconds, and prints one JSON document: latency p50/p99/max
over all deliveries, loss (deliveries missing), duplicates, closes by code,
the clients per worker, and the publisher's own figures.

The clients are a minimal asyncio protocol (handshake, unmasked server frames,
pong), so a thousand of them cost this process little; it runs on uvloop.
Everything is bounded: connecting, publishing, draining and the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import struct
import sys
import time
from array import array
from collections import Counter
from typing import Any, cast

TEXT = b'"text":"'
OVERALL = 180.0  # seconds for the whole run, whatever happens


class Tally:
    """Deliveries as they arrive: every latency, and how many clients got each message."""

    def __init__(self) -> None:
        self.latencies = array("d")  # seconds, one per delivery
        self.counts: Counter[int] = Counter()  # seq -> deliveries
        self.last_arrival = 0.0

    def arrived(self, payload: bytes, now: float) -> None:
        at = payload.find(TEXT)
        if at < 0:
            return
        start = at + len(TEXT)
        end = payload.find(b'"', start)
        seq, sep, sent = payload[start:end].partition(b":")
        if not sep:
            return
        self.counts[int(seq)] += 1
        self.latencies.append(now - float(sent))
        self.last_arrival = now


class Client(asyncio.Protocol):
    """One WebSocket client: handshake, then parse server frames as they arrive; pong to pings."""

    def __init__(self, path: str, tally: Tally) -> None:
        self.path, self.tally = path, tally
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.handshaken = False
        self.close_code: int | None = None  # the code of the server's close frame, or 1006 when dropped without one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                              f"Sec-WebSocket-Version: 13\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.hello.done():
            self.hello.set_exception(ConnectionError(f"{self.path} closed before its hello"))

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
                self.hello.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                return
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
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 1:
                if self.hello.done():
                    self.tally.arrived(payload, now)
                else:
                    self.hello.set_result(json.loads(payload))
            elif opcode == 8:
                self.close_code = struct.unpack_from(">H", payload)[0] if len(payload) >= 2 else 1005
            elif opcode == 9:
                self.send(0xA, payload)

    def send(self, opcode: int, payload: bytes) -> None:
        """A masked client frame (payloads here are control frames: under 126 bytes)."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(0x8, struct.pack(">H", 1000))
            self.transport.close()


async def open_clients(port: int, path: str, count: int, tally: Tally) -> list[tuple[Client, int]]:
    """``count`` clients, 50 connecting at a time; returns each with its worker's PID."""
    loop = asyncio.get_running_loop()

    async def one() -> tuple[Client, int]:
        _, client = await loop.create_connection(lambda: Client(path, tally), "127.0.0.1", port)
        hello = await asyncio.wait_for(client.hello, 10)
        return client, int(hello["pid"])

    clients: list[tuple[Client, int]] = []
    for start in range(0, count, 50):
        clients += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return clients


class Publisher:
    """POST ``path?text=<seq>:<time>`` over ``connections`` keep-alive HTTP/1.1 connections."""

    def __init__(self, port: int, path: str, connections: int = 4) -> None:
        self.port, self.path, self.connections = port, path, connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.accepted: dict[int, float] = {}  # seq -> send time, for 200s
        self.refused: Counter[int] = Counter()  # status -> count
        self.post_ms: list[float] = []
        self.late_ms: list[float] = []  # how far behind its schedule each publish went out

    async def __aenter__(self) -> Publisher:
        for _ in range(self.connections):
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def post(self, seq: int, scheduled: float) -> None:
        reader, writer = await self.idle.get()
        try:
            sent = time.monotonic()
            self.late_ms.append(1000 * (sent - scheduled))
            writer.write(f"POST {self.path}?text={seq}:{sent:.6f} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Length: 0\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            self.post_ms.append(1000 * (time.monotonic() - sent))
            if status == 200:
                self.accepted[seq] = sent
            else:
                self.refused[status] += 1
        finally:
            self.idle.put_nowait((reader, writer))

    async def run(self, rate: float, seconds: float) -> None:
        """``rate`` a second on a fixed schedule; a publish whose connection is busy waits for one."""
        start = time.monotonic() + 0.05
        posts = []
        for seq in range(int(rate * seconds)):
            scheduled = start + seq / rate
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            posts.append(asyncio.create_task(self.post(seq, scheduled)))
        await asyncio.wait_for(asyncio.gather(*posts), 30)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    started = time.monotonic()
    clients = await open_clients(args.port, args.ws, args.clients, tally)
    per_worker = Counter(pid for _, pid in clients)
    connect_s = time.monotonic() - started
    try:
        if len(per_worker) < args.workers:
            raise SystemExit(f"{args.clients} clients reached {len(per_worker)} of {args.workers} workers: {per_worker}")
        await asyncio.sleep(0.5)  # let every worker finish subscribing
        cpu_started, wall_started = time.process_time(), time.monotonic()
        async with Publisher(args.port, args.publish) as publisher:
            await publisher.run(args.rate, args.seconds)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:  # until every accepted message reached every open client
            open_now = sum(1 for client, _ in clients if client.close_code is None)
            if all(tally.counts[seq] >= open_now for seq in publisher.accepted):
                break
            await asyncio.sleep(0.05)
        drained_s = max(0.0, tally.last_arrival - max(publisher.accepted.values(), default=tally.last_arrival))
        cpu_s, wall_s = time.process_time() - cpu_started, time.monotonic() - wall_started
    finally:
        for client, _ in clients:
            client.close()
    closes = Counter(str(client.close_code) for client, _ in clients if client.close_code not in (None, 1000))
    expected = len(publisher.accepted) * args.clients
    delivered = sum(tally.counts[seq] for seq in publisher.accepted)
    latencies_ms = [1000 * x for x in tally.latencies]
    return {
        "clients": args.clients, "clients_per_worker": sorted(per_worker.values()), "connect_s": round(connect_s, 1),
        "published": int(args.rate * args.seconds), "accepted": len(publisher.accepted),
        "refused": dict(publisher.refused),
        "deliveries_expected": expected, "deliveries": delivered,
        "lost": expected - min(delivered, expected),
        "duplicates": sum(max(0, tally.counts[seq] - args.clients) for seq in publisher.accepted),
        "loss_ratio": round((expected - min(delivered, expected)) / expected, 6) if expected else None,
        "closed_by_server": dict(closes),
        "p50_ms": _pct(latencies_ms, 0.50), "p99_ms": _pct(latencies_ms, 0.99),
        "max_ms": round(max(latencies_ms), 2) if latencies_ms else None,
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else None,
        "last_delivery_after_last_publish_s": round(drained_s, 2),
        "post_p50_ms": _pct(publisher.post_ms, 0.5), "post_p99_ms": _pct(publisher.post_ms, 0.99),
        "publish_late_p99_ms": _pct(publisher.late_ms, 0.99),
        "load_generator_cpu_s": round(cpu_s, 2), "measured_wall_s": round(wall_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ch08_load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", required=True, help="the WebSocket path, e.g. /scale/ws")
    parser.add_argument("--publish", required=True, help="the publish path, e.g. /scale/publish")
    parser.add_argument("--workers", type=int, default=1, help="how many worker PIDs the clients must reach")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=10.0, help="at most this long after the last publish")
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(asyncio.wait_for(measure(args), OVERALL))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
