"""Chapter 07: a token bucket per connection, so one client cannot flood the server.

A token bucket holds up to BURST tokens and gains RATE tokens per second.
Each message spends one token; a message that finds the bucket empty is refused.
So a client may send a burst of BURST messages at once, and RATE per second after that.

Goal, on the /chat route:
  * Every connection gets its OWN bucket. A bucket for the whole server (or per
    IP address) lets one noisy client use up everybody's budget.
  * A message within the budget gets its echo, {"type": "echo", "text": ...}.
  * A message over the budget is dropped, and the client gets an error frame,
    {"type": "error", "error": "rate_limited", "detail": "..."}; the connection stays open.
  * Sustained abuse ends the connection: the first MAX_STRIKES refused messages get
    error frames; the next refused one closes with CloseCode.POLICY_VIOLATION (1008)
    and a reason.

The check sets RATE, BURST and MAX_STRIKES, so keep reading these module-level names.

Check it: run check("ch07_rate_limit") in the notebook, or `course check ch07_rate_limit`.
"""

import time

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode  # noqa: F401 - you will need it

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
        # TODO: first add the tokens earned since self.last (rate per second, never more
        #       than burst in total), then spend one if there is at least one.
        return True


def rate_limited() -> dict[str, str]:
    return {"type": "error", "error": "rate_limited", "detail": f"at most {RATE:g} messages per second"}


@app.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    # TODO: give this connection its own TokenBucket(RATE, BURST).
    strikes = 0  # refused messages so far on this connection
    try:
        while True:
            text = await websocket.receive_text()
            # TODO: when the bucket refuses the message: count a strike; past MAX_STRIKES close
            #       with CloseCode.POLICY_VIOLATION and a reason (then return), otherwise
            #       send rate_limited() and skip the echo.
            await websocket.send_json({"type": "echo", "text": text})
    except WebSocketDisconnect:
        pass  # the client left
