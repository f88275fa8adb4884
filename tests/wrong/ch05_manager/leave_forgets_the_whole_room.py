"""leave() deletes the whole room when one member goes: the others are still
connected, but nothing reaches them any more and /stats stops counting them.

Fails: one member leaving (a close frame) leaves the others in the room
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

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
        del self.members[room]

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
    rooms.join(room, websocket)
    # `finally` runs however the loop ends: WebSocketDisconnect after a close
    # frame or a TCP reset (code 1006), or any bug that raises. Cleanup in
    # `except WebSocketDisconnect:` alone would miss the bugs; that `except`
    # is only here because a client leaving is normal, not an error to log.
    try:
        while True:
            text = await websocket.receive_text()
            await rooms.broadcast(room, text)
    except WebSocketDisconnect:
        pass
    finally:
        rooms.leave(room, websocket)
