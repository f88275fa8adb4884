"""Correct: async for over iter_text() (it ends quietly when the client leaves),
with leave() in finally, so a crash on a binary frame still cleans up."""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


class Rooms:
    def __init__(self) -> None:
        self.members: dict[str, set[WebSocket]] = {}

    def join(self, room: str, websocket: WebSocket) -> None:
        self.members.setdefault(room, set()).add(websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        self.members.get(room, set()).discard(websocket)
        if not self.members.get(room, True):
            self.members.pop(room)

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
    try:
        async for text in websocket.iter_text():
            await rooms.broadcast(room, text)
    finally:
        rooms.leave(room, websocket)
