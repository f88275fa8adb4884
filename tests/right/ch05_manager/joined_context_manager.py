"""Correct: the notebook's joined() context manager does join and leave; the loop
reads raw messages and closes a binary frame with 1003 instead of crashing."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

app = FastAPI()


class Rooms:
    def __init__(self) -> None:
        self.members: dict[str, set[WebSocket]] = {}

    def join(self, room: str, websocket: WebSocket) -> None:
        self.members.setdefault(room, set()).add(websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        # discard() does not mind a socket that already left (a broadcast may
        # have dropped it first). Deleting the empty set matters too: with
        # rooms named per user or per game, empty sets would pile up forever.
        sockets = self.members.get(room)
        if sockets is None:
            return
        sockets.discard(websocket)
        if not sockets:
            del self.members[room]

    @asynccontextmanager
    async def joined(self, room: str, websocket: WebSocket) -> AsyncIterator[None]:
        self.join(room, websocket)
        try:
            yield
        finally:
            self.leave(room, websocket)

    def count(self) -> int:
        return sum(len(sockets) for sockets in self.members.values())

    async def broadcast(self, room: str, text: str) -> None:
        for websocket in list(self.members.get(room, ())):  # a copy: members may leave meanwhile
            try:
                await websocket.send_text(text)
            except WebSocketDisconnect:
                self.leave(room, websocket)


rooms = Rooms()


@app.get("/stats")
async def stats() -> dict[str, object]:
    return {"connections": rooms.count(), "rooms": {name: len(s) for name, s in rooms.members.items()}}


@app.websocket("/rooms/{room}")
async def room_socket(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    async with rooms.joined(room, websocket):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is None:
                await websocket.close(CloseCode.UNSUPPORTED_DATA, "rooms take text frames")
                return
            await rooms.broadcast(room, message["text"])
