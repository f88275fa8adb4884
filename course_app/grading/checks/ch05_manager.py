"""Check for ch05_manager: rooms, clean disconnects, and no zombies after TCP resets.

The fault injected is the one that makes zombies in production: clients that
vanish without a close frame. ``reset()`` sets SO_LINGER to 0 and aborts the
socket, so the kernel sends a TCP RST, just like a phone losing its network.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from types import ModuleType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from course_app.grading.checker import T
from course_app.grading.kit import http_client, learner_app, serve


CHURN = 300  # abrupt resets in total
BATCH = 50  # how many vanish at the same moment


def reset(ws: ClientConnection) -> None:
    """Drop the connection with a TCP RST: no close frame, no FIN (SO_LINGER 0)."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def wait_for_stats(client: httpx.AsyncClient, want: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Poll GET /stats until it equals ``want`` or time runs out; returns the last answer."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        body: dict[str, Any] = (await client.get("/stats")).json()
        if body == want or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.05)


async def _recv(ws: ClientConnection, seconds: float = 2.0) -> str | None:
    try:
        return str(await asyncio.wait_for(ws.recv(), seconds))
    except TimeoutError:
        return None


async def check(learner: ModuleType, t: T) -> None:
    async with serve(learner_app(learner)) as server, http_client(server) as client:
        url = server.ws_url + "/rooms/"

        with t.step("a message reaches everyone in its room, sender included, and no one else"):
            async with connect(url + "red") as ann, connect(url + "red") as bob, connect(url + "blue") as cy:
                await ann.send("hello red")
                got = [await _recv(ann), await _recv(bob)]
                t.expect(got == ["hello red", "hello red"], expected="both members of red get 'hello red'", got=got)
                other = await _recv(cy, 0.3)
                t.expect(other is None, expected="nothing for the member of blue", got=other)

        with t.step("GET /stats is back to zero after clients close normally"):
            body = await wait_for_stats(client, {"connections": 0, "rooms": {}}, 2.0)
            t.expect(body.get("connections") == 0, expected='"connections": 0 once all three closed', got=body,
                     message="Sockets that closed are still counted: they never left their room.")

        with t.step("no empty rooms are left behind"):
            t.expect(body.get("rooms") == {}, expected='"rooms": {} once everyone left', got=body,
                     message="Every room name ever used is still stored: that memory grows forever.")

        with t.step(f"GET /stats is back to zero after {CHURN} abrupt resets (TCP RST, no close frame)"):
            for batch in range(CHURN // BATCH):
                clients = await asyncio.gather(*(connect(url + f"room{i % 10}") for i in range(BATCH)))
                for i, ws in enumerate(clients[:10]):  # some talk, so broadcasts meet the dying
                    await ws.send(f"batch {batch} from {i}")
                for ws in clients:
                    reset(ws)
            body = await wait_for_stats(client, {"connections": 0, "rooms": {}}, 3.0)
            t.expect(body == {"connections": 0, "rooms": {}}, expected='{"connections": 0, "rooms": {}} within 3 s',
                     got=body, message="A reset client sends no close frame; its handler sees code 1006.")

        with t.step("the server still serves: a new client joins and chats"):
            async with connect(url + "after") as ws:
                await ws.send("still here")
                got_text = await _recv(ws)
                t.expect(got_text == "still here", expected="'still here' back", got=got_text)
