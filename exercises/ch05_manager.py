"""Chapter 05: a connection manager with rooms that keeps no zombies.

Goal: clients connect to /rooms/{room}; every text frame reaches every member
of that room (sender included) and nobody else. GET /stats counts live
connections. However a connection ends (a close frame, a TCP reset, a crash),
the socket must leave its room, and a room with nobody left must be forgotten,
so GET /stats returns {"connections": 0, "rooms": {}} once everyone is gone.

Check it: run check("ch05_manager") in the notebook, or `course check ch05_manager` in a terminal.
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


class Rooms:
    def __init__(self) -> None:
        self.members: dict[str, set[WebSocket]] = {}

    def join(self, room: str, websocket: WebSocket) -> None:
        self.members.setdefault(room, set()).add(websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        # TODO: remove the socket from its room, and forget the room once it is empty.
        pass

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
    # TODO: make sure the socket leaves its room however the loop below ends.
    while True:
        text = await websocket.receive_text()
        await rooms.broadcast(room, text)
