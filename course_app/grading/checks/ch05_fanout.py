"""Check for ch05_fanout: stalled readers must not hold up a broadcast, and are dropped in time.

A stalled reader is real: a client socket with a tiny receive buffer whose
websockets connection stops reading (max_queue=1, never calls recv). Once the
kernel buffers between it and the server are full (a few MB on Linux, see the
notebook), every send to it waits. Two of them stall at different moments while
messages are published at a steady pace to healthy readers, and readers join and
leave all the while (also while a send to a stalled reader is waiting).

The requirement is judged as stated, so every valid strategy passes (a gather
of sends with deadlines, asyncio.wait with a timeout, a writer task per client):
no publish waits much longer than SEND_TIMEOUT; each stalled reader leaves
``subscribers`` within SEND_TIMEOUT (plus a margin) of its first send that could
not go out, never before SEND_TIMEOUT; it then finds a close frame with
CloseCode.TOO_SLOW behind its backlog, and nothing after it; every healthy reader
gets every message, in order.

When a stalled reader's send "could not go out" is read from its backlog: it got
messages up to k, so the send of k + 1 was the first to wait, and that send
cannot have started before the check posted k + 1.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import T
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded
from course_app.grading.kit import http_client, learner_app, serve
from course_app.realtime.codes import CloseCode

STEADY = 5  # healthy readers there from start to end
SIZE = 128 * 1024  # per message: a stalled reader's buffers (a few MB) fill after a few dozen
PACE = 0.04  # seconds between publishes: a "drop after N queued messages" rule is far slower than SEND_TIMEOUT
MAX_MESSAGES = 110
AFTER_DROPS = 8  # messages published after the last drop, to see that nothing more reaches the dropped
MARGIN = 1.0  # seconds on top of SEND_TIMEOUT (a loaded 2-core machine)
PHASE_LIMIT = 8.0  # seconds of publishing at most (about 3 s when the stalled readers are dropped in time)
CLOSE_WAIT = 3.0  # seconds a dropped reader reads its backlog and waits for the close frame
EARLY = 0.8  # a drop sooner than this fraction of SEND_TIMEOUT after the stall is too early


@dataclass
class Reader:
    ws: ClientConnection
    joined_at: float
    texts: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    left: bool = False

    def seqs(self) -> list[int]:
        return [int(text[:5]) for text in self.texts if text[:5].isdigit()]


@dataclass
class Stalled:
    ws: ClientConnection
    port: int
    dropped_at: float | None = None


async def _read(reader: Reader) -> None:
    try:
        async for message in reader.ws:
            reader.texts.append(message if isinstance(message, str) else f"binary frame {message[:20]!r}")
    except ConnectionClosed:
        pass


async def _reader(url: str) -> Reader:
    reader = Reader(await connect(url, compression=None, max_size=None), time.perf_counter())
    reader.task = asyncio.create_task(_read(reader))
    return reader


async def _stalled(url: str) -> Stalled:
    """A client that stops reading: 4 KiB receive buffer, and its library keeps one message at most."""
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: it sets the TCP window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, max_queue=1, compression=None, max_size=None)
    return Stalled(ws, sock.getsockname()[1])


def _ports(subscribers: Collection[Any]) -> set[int] | None:
    """The client ports of the learner's subscribers (read from the check's thread; retried if it changes)."""
    for _ in range(5):
        try:
            return {ws.client.port for ws in list(subscribers) if getattr(ws, "client", None)}
        except RuntimeError:  # the server thread changed the set while we copied it
            continue
    return None


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _prefix_ok(got: list[int], first_due: int, last: int) -> bool:
    """Consecutive, ending at ``last``, and starting no later than ``first_due``."""
    return bool(got) and got == list(range(got[0], last + 1)) and got[0] <= first_due


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    subscribers = getattr(learner, "subscribers", None)
    send_timeout = getattr(learner, "SEND_TIMEOUT", None)
    with t.step("SEND_TIMEOUT and the subscribers set are still in the file"):
        t.expect(isinstance(subscribers, Collection), expected="a module-level `subscribers` set (keep the line)",
                 got=type(subscribers).__name__)
        t.expect(isinstance(send_timeout, (int, float)) and 0 < send_timeout <= 1.0,
                 expected="SEND_TIMEOUT = 0.5 (a number of seconds, at most 1)", got=send_timeout)
    assert isinstance(subscribers, Collection) and isinstance(send_timeout, (int, float))
    post_limit = send_timeout + 1.5

    async with serve(learner_app(learner)) as server, http_client(server, timeout=post_limit + 1) as client:
        url = server.ws_url + "/feed"
        readers = [await _reader(url) for _ in range(STEADY)]
        stalled: list[Stalled] = []
        posted_at: dict[int, float] = {}

        async def publish(body: str, what: str) -> int:
            started = time.perf_counter()
            try:
                reply = await client.post("/publish", content=body.encode())
            except httpx.TimeoutException:
                t.fail(f"POST /publish ({what}) did not answer within {post_limit + 1:g} s: "
                       "the broadcast is waiting for a stalled reader.")
            took = time.perf_counter() - started
            t.expect(reply.status_code == 200, expected=f"POST /publish ({what}) answers 200",
                     got=f"HTTP {reply.status_code}: {reply.text[:200]}")
            t.expect(took <= post_limit, expected=f"POST /publish ({what}) answers within {post_limit:g} s "
                     f"(SEND_TIMEOUT plus a margin)", got=f"{took:.2f} s: the broadcast waited for a stalled reader")
            answer = reply.json()
            count = answer.get("subscribers") if isinstance(answer, dict) else None
            t.expect(isinstance(count, int), expected='a reply like {"subscribers": 5}', got=reply.text[:200])
            return count if isinstance(count, int) else 0

        try:
            with t.step("every subscriber gets every message, unchanged, in order, as text frames"):
                texts = rng.sample(AWKWARD_WORDS, 6) + ["", "  ", "line\nbreak", "x" * rng.randint(1000, 70_000)]
                rng.shuffle(texts)
                for text in texts:
                    await publish(text, f"body {_json(text[:20])}")
                await _until(lambda: all(len(r.texts) >= len(texts) for r in readers), 3.0)
                for n, reader in enumerate(readers, 1):
                    t.expect(reader.texts == texts, expected=f"reader {n} gets {_json([x[:20] for x in texts])}",
                             got=_json([x[:20] for x in reader.texts]))
                    reader.texts.clear()

            churn: list[Reader] = []
            log: list[str] = []

            async def membership() -> None:
                """Readers join and leave all the time, also while a send to a stalled reader waits."""
                while True:
                    await asyncio.sleep(rng.uniform(0.08, 0.2))
                    if churn and rng.random() < 0.5:
                        leaving = churn.pop(rng.randrange(len(churn)))
                        leaving.left = True
                        if rng.random() < 0.5:
                            await leaving.ws.close()
                        else:
                            leaving.ws.transport.abort()
                        log.append("left")
                    else:
                        churn.append(await _reader(url))
                        log.append("joined")

            async def watch_drops() -> None:
                while True:
                    ports = _ports(subscribers)
                    now = time.perf_counter()
                    for slow in stalled:
                        if slow.dropped_at is None and ports is not None and slow.port not in ports:
                            slow.dropped_at = now
                    await asyncio.sleep(0.01)

            changing = asyncio.create_task(membership())
            watching = asyncio.create_task(watch_drops())
            second_at = rng.randint(12, 20)
            last = 0
            try:
                with t.step("stalled readers do not hold up the others, while readers join and leave"):
                    stalled.append(await _stalled(url))
                    body = "x" * (SIZE - 6)
                    phase_ends = time.perf_counter() + PHASE_LIMIT
                    for seq in range(1, MAX_MESSAGES + 1):
                        if time.perf_counter() > phase_ends:
                            break
                        if seq == second_at:
                            stalled.append(await _stalled(url))
                        posted_at[seq] = time.perf_counter()
                        await publish(f"{seq:05d} {body}", f"message {seq}")
                        last = seq
                        drops = [s.dropped_at for s in stalled]
                        if len(stalled) == 2 and all(drops):
                            if posted_at[seq] > max(d for d in drops if d) + AFTER_DROPS * PACE:
                                break
                        await asyncio.sleep(PACE)
            finally:
                changing.cancel()
                watching.cancel()
                await asyncio.gather(changing, watching, return_exceptions=True)

            with t.step("every healthy reader got every message published while it was connected, in order"):
                stayed = readers + [r for r in churn if not r.left]
                await _until(lambda: all(r.seqs()[-1:] == [last] for r in stayed), 3.0)
                for n, reader in enumerate(stayed, 1):
                    first_due = min((s for s, at in posted_at.items() if at > reader.joined_at), default=None)
                    seqs = reader.seqs()
                    if first_due is None:  # it joined after the last message was posted
                        continue
                    closed = f", then it was closed with code {reader.ws.close_code}" if reader.ws.close_code else ""
                    t.expect(_prefix_ok(seqs, first_due, last),
                             expected=f"messages {first_due}..{last} in order (reader {n} of {len(stayed)}; "
                             f"{log.count('joined')} joined and {log.count('left')} left meanwhile)",
                             got=_ranges(seqs) + closed)

            for n, slow in enumerate(stalled, 1):
                which = "first" if n == 1 else "second"
                with t.step(f"the {which} stalled reader is dropped within SEND_TIMEOUT (+{MARGIN:g} s) of its send stalling"):
                    t.expect(slow.dropped_at is not None, got=f"still in subscribers after {last} messages",
                             expected=f"it leaves subscribers about {send_timeout:g} s after a send to it starts waiting",
                             message="Everything sent to a reader that never reads piles up, and every publish pays for it.")
                    assert slow.dropped_at is not None
                    backlog = Reader(slow.ws, 0.0)
                    reading = asyncio.create_task(_read(backlog))  # it reads again: its backlog, then the close
                    done, _ = await asyncio.wait({reading}, timeout=CLOSE_WAIT)
                    got = backlog.seqs()
                    k = got[-1] if got else 0
                    stalled_from = posted_at.get(k + 1)
                    if stalled_from is not None:
                        after = slow.dropped_at - stalled_from
                        t.expect(after <= send_timeout + MARGIN, got=f"dropped {after:.2f} s after message {k + 1} was posted",
                                 expected=f"dropped within {send_timeout + MARGIN:g} s of the send of message {k + 1} "
                                 f"(it got messages up to {k})")
                        t.expect(after >= EARLY * send_timeout, got=f"dropped {after:.2f} s after message {k + 1} was posted",
                                 expected=f"not dropped before its send waited SEND_TIMEOUT ({send_timeout:g} s)")
                with t.step(f"the {which} stalled reader is closed with CloseCode.TOO_SLOW (4004), and gets nothing after"):
                    if not done:
                        reading.cancel()
                        t.fail(f"It read {len(got)} messages and then waited {CLOSE_WAIT:g} s without a close frame. "
                               "Close it with CloseCode.TOO_SLOW when you drop it (in its own task).")
                    code = slow.ws.close_code
                    t.expect(code == CloseCode.TOO_SLOW, expected="close code 4004 (CloseCode.TOO_SLOW)",
                             got=f"close code {code}")
                    t.expect(bool(got) and got == list(range(got[0], got[-1] + 1)) and got[-1] < last,
                             expected=f"a run of messages that stops before the last one ({last})", got=_ranges(got))
        finally:
            for reader in readers + churn:
                if reader.task:
                    reader.task.cancel()
                reader.ws.transport.abort()
            for slow in stalled:
                slow.ws.transport.abort()


def _ranges(seqs: list[int]) -> str:
    """[1, 2, 3, 7, 8] -> "messages 1..3, 7..8"."""
    if not seqs:
        return "no messages"
    runs: list[list[int]] = []
    for s in seqs:
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return "messages " + ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


async def _until(condition: Any, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
