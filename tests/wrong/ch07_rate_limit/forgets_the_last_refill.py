"""Refills from self.last but never moves self.last forward: every call adds all
the time since the bucket was made, so after a second or so the bucket is full on
every message and the limit stops limiting.

Fails: tokens come back
"""


import time

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

RATE = 5.0  # tokens added per second
BURST = 10  # the most tokens the bucket holds (and the size of a burst)
MAX_STRIKES = 5  # refused messages answered with an error frame before we close

app = FastAPI()


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)  # start full: a new client may send a burst at once
        self.last = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one; False means the message must be refused."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def rate_limited() -> dict[str, str]:
    return {"type": "error", "error": "rate_limited", "detail": f"at most {RATE:g} messages per second"}


@app.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    # Made here, inside the handler: one bucket per connection, gone when it closes.
    bucket = TokenBucket(RATE, BURST)
    strikes = 0  # refused messages so far on this connection
    try:
        while True:
            text = await websocket.receive_text()
            if not bucket.take():
                # Tell the client first (a well-behaved one slows down), and close only
                # when it keeps going: the flood then costs it the connection.
                strikes += 1
                if strikes > MAX_STRIKES:
                    await websocket.close(CloseCode.POLICY_VIOLATION, "rate limit exceeded again and again: slow down")
                    return
                await websocket.send_json(rate_limited())
                continue
            await websocket.send_json({"type": "echo", "text": text})
    except WebSocketDisconnect:
        pass  # the client left
