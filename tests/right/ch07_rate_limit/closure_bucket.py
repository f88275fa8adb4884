"""A correct alternative: no class, a closure per connection holding its own
tokens, and the strike logic in a helper that returns whether to go on."""

import time
from collections.abc import Callable

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

RATE = 5.0
BURST = 10
MAX_STRIKES = 5

app = FastAPI()


def new_bucket(rate: float, burst: int) -> Callable[[], bool]:
    tokens, last = float(burst), time.perf_counter()

    def take() -> bool:
        nonlocal tokens, last
        now = time.perf_counter()
        tokens, last = min(float(burst), tokens + (now - last) * rate), now
        if tokens < 1:
            return False
        tokens -= 1
        return True

    return take


@app.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    take = new_bucket(RATE, BURST)
    refused = 0
    try:
        async for text in websocket.iter_text():
            if take():
                await websocket.send_json({"type": "echo", "text": text})
                continue
            refused += 1
            if refused > MAX_STRIKES:
                await websocket.close(code=CloseCode.POLICY_VIOLATION, reason="flooding: closed")
                return
            await websocket.send_json({"type": "error", "error": "rate_limited", "detail": "slow down"})
    except WebSocketDisconnect:
        pass
