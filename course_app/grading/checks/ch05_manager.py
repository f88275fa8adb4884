"""Check for ch05_manager: rooms, members leaving one by one, crashes, and no zombies after TCP resets.

Every way a connection ends is tried on the learner's real server: a polite
close while others stay in the room, a TCP reset (``reset()`` sets SO_LINGER 0
and aborts the socket, so the kernel sends an RST, like a phone losing its
network), and a handler that crashes (a binary frame where the route expects
text). After each, GET /stats must count exactly who is left; a socket that
stays counted after its connection ended is a zombie. Room names, group sizes
and messages change on every run.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import T
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded
from course_app.grading.kit import http_client, learner_app, serve

CHURN = 300  # abrupt resets in total
BATCH = 50  # how many vanish at the same moment
ROOM_NAMES = ["red", "blue", "lobby", "game-42", "café", "zürich", "ß", "room_7", "北京", "x"]
EMPTY: dict[str, Any] = {"connections": 0, "rooms": {}}
EMPTY_ROOM = ("A room with nobody left is still stored: forget a room once it is empty, "
              "or every room name ever used stays in memory.")


def reset(ws: ClientConnection) -> None:
    """Drop the connection with a TCP RST: no close frame, no FIN (SO_LINGER 0)."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def wait_for_stats(client: httpx.AsyncClient, want: dict[str, Any], seconds: float) -> Any:
    """Poll GET /stats until it equals ``want`` or time runs out; returns the last answer."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        reply = await client.get("/stats")
        body: Any = reply.json() if reply.status_code == 200 else f"HTTP {reply.status_code}: {reply.text[:200]}"
        if body == want or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.05)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _stats(rooms: dict[str, int]) -> dict[str, Any]:
    live = {name: n for name, n in rooms.items() if n}
    return {"connections": sum(live.values()), "rooms": live}


async def _recv(ws: ClientConnection, seconds: float = 2.0) -> object:
    try:
        return await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        return f"the connection closed (code {closed.rcvd.code if closed.rcvd else 1006})"


async def _chat(t: T, rng: random.Random, groups: dict[str, list[ClientConnection]], rounds: int = 3) -> None:
    """Random members talk, one line at a time; every member of the sender's room gets it; nobody else does."""
    for n in range(rounds):
        for room, members in groups.items():
            if not members:
                continue
            text = f"{rng.choice(AWKWARD_WORDS)} #{n} in {room}"
            sender = rng.randrange(len(members))
            await members[sender].send(text)
            for i, ws in enumerate(members):
                got = await _recv(ws)
                t.expect(got == text, got=_json(got), expected=f"member {i + 1} of {len(members)} in room {_json(room)} gets "
                         f"{_json(text)}" + (" (the sender too)" if i == sender else ""))
    everyone = [ws for members in groups.values() for ws in members]
    extra = await asyncio.gather(*(_recv(ws, 0.1) for ws in everyone))
    t.expect(not any(extra), expected="nothing more for anyone", got=_json([x for x in extra if x]),
             message="A member got a line from another room, or a line twice.")


async def _expect_stats(t: T, client: httpx.AsyncClient, groups: dict[str, list[ClientConnection]], after: str,
                        hint: str = "") -> None:
    """GET /stats counts exactly the members still connected, and lists only rooms that have some."""
    want = _stats({room: len(m) for room, m in groups.items()})
    body = await wait_for_stats(client, want, 2.0)
    if body == want:
        return
    message = hint
    if isinstance(body, dict) and isinstance(body.get("rooms"), dict):
        listed = body["rooms"]
        if {k: v for k, v in listed.items() if v} == want["rooms"] and body.get("connections") == want["connections"]:
            message = EMPTY_ROOM
        elif body.get("connections", 0) > want["connections"]:
            message = "A socket whose connection ended is still counted: a zombie. " + hint
    t.fail(f"{message}\nexpected: {_json(want)} {after}\ngot:      {_json(body)}".strip())


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    names = rng.sample(ROOM_NAMES, 3)
    async with serve(learner_app(learner)) as server, http_client(server) as client:
        url = server.ws_url + "/rooms/"

        async def join(room: str, n: int) -> list[ClientConnection]:
            return list(await asyncio.gather(*(connect(url + quote(room)) for _ in range(n))))

        a, b, c = names
        groups = {a: await join(a, rng.randint(2, 4)), b: await join(b, rng.randint(2, 3)), c: await join(c, 1)}
        try:
            with t.step("a message reaches everyone in its room, sender included, and no one else"):
                await _chat(t, rng, groups)
            with t.step("GET /stats counts the members of each room"):
                await _expect_stats(t, client, groups, "")

            with t.step("one member leaving (a close frame) leaves the others in the room, still chatting"):
                leaving = groups[a].pop(rng.randrange(len(groups[a])))
                await leaving.close()
                await _expect_stats(t, client, groups, f"once one member of {_json(a)} left")
                await _chat(t, rng, groups, rounds=2)

            with t.step("one member vanishing (a TCP reset) leaves the others in the room, still chatting"):
                vanishing = groups[b].pop(rng.randrange(len(groups[b])))
                reset(vanishing)
                await _expect_stats(t, client, groups, f"once one member of {_json(b)} vanished",
                                    "A reset client sends no close frame; its handler sees the disconnect anyway.")
                await _chat(t, rng, groups, rounds=2)

            with t.step("a member whose handler crashes (a binary frame where text is expected) leaves its room"):
                crasher = groups[a].pop(rng.randrange(len(groups[a])))
                with t.crash_expected():
                    await crasher.send(rng.choice([b"\x00\x01", b"hello as bytes", b""]))
                    try:
                        await asyncio.wait_for(crasher.wait_closed(), 2.0)
                    except TimeoutError:
                        await crasher.close()  # a handler that ignores the frame: we leave politely instead
                # Checked before anyone talks: a broadcast can sweep a zombie away and hide it.
                await _expect_stats(t, client, groups, f"once the handler of one member of {_json(a)} ended",
                                    "A handler that raises skips clean-up written in `except`; `finally` always runs.")
                await _chat(t, rng, groups, rounds=1)
        finally:
            for members in groups.values():
                for ws in members:
                    await ws.close()

        with t.step("GET /stats is back to zero after everyone closed normally"):
            body = await wait_for_stats(client, EMPTY, 2.0)
            t.expect(isinstance(body, dict) and body.get("connections") == 0, expected='"connections": 0 once all closed',
                     got=_json(body), message="Sockets that closed are still counted: they never left their room.")
        with t.step("no empty rooms are left behind"):
            t.expect(body.get("rooms") == {}, expected='"rooms": {} once everyone left', got=_json(body), message=EMPTY_ROOM)

        with t.step(f"GET /stats is back to zero after {CHURN} abrupt resets (TCP RST, no close frame)"):
            for batch in range(CHURN // BATCH):
                clients = await asyncio.gather(*(connect(url + quote(rng.choice(ROOM_NAMES))) for _ in range(BATCH)))
                for i, ws in enumerate(clients[:10]):  # some talk, so broadcasts meet the dying
                    await ws.send(f"batch {batch} from {i}")
                for ws in clients:
                    reset(ws)
            body = await wait_for_stats(client, EMPTY, 3.0)
            t.expect(body == EMPTY, expected='{"connections": 0, "rooms": {}} within 3 s',
                     got=_json(body), message="A reset client sends no close frame; its handler sees the disconnect anyway.")

        with t.step("the server still serves: a new client joins and chats"):
            async with connect(url + quote(rng.choice(ROOM_NAMES))) as ws:
                await ws.send("still here")
                got = await _recv(ws)
                t.expect(got == "still here", expected='"still here" back', got=got)
