"""Check for ch08_replay: resume from the last seen Streams id, exactly the missed entries, in order, once.

The learner's file runs under ``uvicorn --workers 2`` with a Redis this check
owns and restarts (with its data kept, as a production Redis with an
append-only file would). Clients are dropped with a TCP reset, entries are
published while they are away, and they come back -- on whichever worker the
kernel picks -- with the last id they saw. Texts and counts change on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis

from course_app.faults import redis_outage, reset_connection
from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._ch08 import Client, CrashWatch, own_redis
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded
from course_app.grading.kit import serve_cluster

WORKERS = 2
WAIT = 3.0  # seconds for entries to arrive
QUIET = 0.4  # seconds to wait for anything extra (a repeat) after the expected entries


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


def _entries(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames if isinstance(f, dict) and "id" in f and f.get("type") is None]


def _show(entries: list[dict[str, Any]], published: dict[str, str]) -> str:
    """Entries as 'e3, e4, e4' (the check's own numbering), or their raw form when unknown."""
    names = {entry_id: f"e{n + 1}" for n, entry_id in enumerate(published)}
    shown = [names.get(str(e.get("id")), repr(e)) for e in entries]
    return ", ".join(shown[:25]) + (" ..." if len(shown) > 25 else "") or "nothing"


async def _expect_entries(t: T, client: Client, want: list[str], published: dict[str, str], what: str,
                          since: int = 0, already: str | None = None) -> None:
    """The client's entries after index ``since`` are exactly ``want`` (ids), each with its text, in order."""
    await client.wait(lambda c: len(_entries(c)) - since >= len(want), WAIT)
    await asyncio.sleep(QUIET)
    got = _entries(client)[since:]
    ids = [str(e.get("id")) for e in got]
    if ids == want and all(e.get("text") == published[i] for e, i in zip(got, ids)):
        return
    names = {entry_id: f"e{n + 1}" for n, entry_id in enumerate(published)}
    expected = ", ".join(names[i] for i in want) or "nothing"
    problem = ""
    if already is not None and already in ids:
        problem = ("It got the entry it already had (the one its last_id names) again: "
                   "resume strictly after last_id. ")
    elif any(ids.count(i) > 1 for i in ids):
        problem = "Some entries arrived twice. "
    elif not ids and want:
        problem = "Nothing arrived. "
    elif len(ids) < len(want) and ids == want[:len(ids)] and client.closed is None:
        problem = (f"It got {'only the first' if len(ids) == 1 else f'the first {len(ids)}'} and none after, "
                   "though it is still connected: entries that arrived "
                   "while it was sending the earlier ones were skipped. Does each read start after the last entry sent? ")
    elif ids and set(ids) <= set(want) and len(ids) < len(want):
        problem = "Some entries are missing. "
    elif ids and ids[0] not in want:
        problem = "It got entries from before the ones it should have. "
    elif ids == want:
        problem = "The ids are right but a text is not the text published with it. "
    if client.closed is not None:
        problem += f"The connection was closed (code {client.closed[0]}, {client.closed[1]!r}). "
    t.fail(f"{what}. {problem.strip()}\nexpected: {expected}\ngot:      {_show(got, published)}\n"
           "(e1, e2, ... number the entries this check published, in order.)")


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    stream_key = str(getattr(learner, "STREAM", "ch08:events"))
    published: dict[str, str] = {}  # id -> text, in publishing order
    async with contextlib.AsyncExitStack() as stack:
        redis_server = await stack.enter_async_context(own_redis(persist=True))
        with t.step("your app starts under uvicorn --workers 2 with a Redis that keeps its data"):
            cluster = await stack.enter_async_context(
                serve_cluster(t.learner_file, WORKERS, fail_on_crash=False, redis_url=redis_server.url)
            )
        watch = CrashWatch(cluster, t.learner_file)
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=cluster.url, timeout=5.0))
        clients: list[Client] = []

        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in clients))

        stack.push_async_callback(close_all)
        ws_url = cluster.ws_url + "/ws"

        async def join(last_id: str | None = None) -> Client:
            client = await Client.open(ws_url + (f"?last_id={quote(last_id)}" if last_id else ""))
            clients.append(client)
            hello = client.hello
            if not (isinstance(hello, dict) and hello.get("type") == "hello" and isinstance(hello.get("last_id"), str)):
                raise CheckFailed(f'The first frame should be {{"type": "hello", "last_id": "<id>"}}; got {hello!r}'
                                  + ("" if last_id else ". A client that gives no last_id starts at the current end "
                                     "of the stream: the id of the newest entry (0-0 while the stream is empty)."))
            if last_id is not None and hello["last_id"] != last_id:
                raise CheckFailed(f"A client that came back with last_id={last_id} was greeted with "
                                  f"last_id={hello['last_id']}: it should resume from the id it gave.")
            return client

        async def publish(count: int, *, patient: bool = False) -> list[str]:
            ids = []
            for _ in range(count):
                text = f"{rng.choice(AWKWARD_WORDS)} #{len(published) + 1}"
                ids.append(await _publish(http, text, patient))
                published[ids[-1]] = text
            return ids

        with t.step("a new client gets each entry published after it connected, with its id, in order, once"):
            a, b = await join(), await join()
            first = await publish(rng.randint(3, 6))
            await _expect_entries(t, a, first, published, "A client connected before they were published")
            await _expect_entries(t, b, first, published, "A second client")
            watch.check()

        with t.step("a burst of entries added at once arrives whole, in order, once"):
            burst = await _burst(redis_server.url, stream_key, rng, published)
            await _expect_entries(t, a, burst, published, "20 entries were added in one go", since=len(first))
            watch.check()

        with t.step("a client without last_id starts at the end of the stream: nothing old"):
            fresh = await join()
            await asyncio.sleep(QUIET)
            t.expect(not _entries(fresh), expected="no entries yet (they were all published before it connected)",
                     got=_show(_entries(fresh), published))
            live = await publish(1)
            await _expect_entries(t, fresh, live, published, "Then the next one")
            watch.check()

        with t.step("a client that reconnects with its last id gets exactly what it missed, in order, once, then live ones"):
            last = str(_entries(a)[-1]["id"]) if _entries(a) else a.hello["last_id"]
            await _drop(a)
            missed = await publish(rng.randint(2, 5))
            back = await join(last)
            await _expect_entries(t, back, missed, published, f"Back with last_id=<id of {_name(last, published)}>",
                                  already=last)
            more = await publish(1)
            await _expect_entries(t, back, more, published, "Then the next live one", since=len(missed))
            watch.check()

        with t.step("across a Redis restart: connected clients stay and miss nothing; a dropped one resumes from its last id"):
            last = str(_entries(back)[-1]["id"])
            await _drop(back)
            await asyncio.to_thread(_outage, redis_server)
            missed = await publish(rng.randint(2, 4), patient=True)
            again = await join(last)
            await _expect_entries(t, again, missed, published, "A client dropped before the restart, back with its last id",
                                  already=last)
            await _expect_entries(t, b, list(published), published, "A client connected all along, through the restart")
            watch.check()


def _name(entry_id: str, published: dict[str, str]) -> str:
    order = list(published)
    return f"e{order.index(entry_id) + 1}" if entry_id in order else entry_id


async def _publish(http: httpx.AsyncClient, text: str, patient: bool) -> str:
    """POST /publish; right after a Redis restart, retry a 503 for a few seconds."""
    deadline = time.monotonic() + (5.0 if patient else 0.0)
    while True:
        reply = await http.post("/publish", params={"text": text})
        if reply.status_code == 200:
            body = reply.json()
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                return str(body["id"])
            raise CheckFailed(f'POST /publish should answer {{"id": "<entry id>"}}; it answered {body!r}')
        if reply.status_code != 503 or time.monotonic() > deadline:
            raise CheckFailed(f"POST /publish answered {reply.status_code}: {reply.text[:300]}")
        await asyncio.sleep(0.1)


async def _burst(redis_url: str, key: str, rng: random.Random, published: dict[str, str]) -> list[str]:
    """20 XADDs in one pipeline: they land in Redis one right after the other."""
    client = aioredis.from_url(redis_url)
    try:
        texts = [f"{rng.choice(AWKWARD_WORDS)} #{len(published) + n + 1}" for n in range(20)]
        async with client.pipeline(transaction=False) as pipe:
            for text in texts:
                pipe.xadd(key, {"text": text})
            ids = [raw.decode() for raw in await pipe.execute()]
    finally:
        await client.aclose()
    published.update(zip(ids, texts))
    return ids


async def _drop(client: Client) -> None:
    """The client vanishes: a TCP reset, no close frame."""
    reset_connection(client.ws)
    await client.close()


def _outage(server: Any) -> None:
    with redis_outage(server):
        time.sleep(0.5)
