"""The limits the course recommends, in one place, and the handlers that keep bad input off a 500.

* ``WS_MAX_SIZE`` -- give it to uvicorn (``ws_max_size=`` / ``--ws-max-size``): a
  frame over it is refused from its header with 1009, before its payload is
  buffered. It is the largest cap any course route allows (ch04's 64 KiB); each
  route still checks its own, smaller cap (``realtime.frames.receive_text``).
* ``MAX_BODY_BYTES`` -- ``FastAPI(max_body_size=...)``: FastAPI and Starlette refuse
  a declared Content-Length over it before reading, and count a streamed body as
  it comes in, answering 413 "Content Too Large" either way. (Starlette writes
  that reply itself, outside every middleware and handler, so the course cannot
  add the number to it: the number is here and in the README.)
* ``install(app)`` -- exception handlers whose replies can always be encoded: a
  validation error that echoes a lone surrogate, NaN or deeply nested input still
  gets its 422 (FastAPI's own handler would crash and answer 500).
* the ``id`` path converter -- 1 to 18 digits. Starlette's ``int`` converter
  matches any number of digits and then crashes converting 5,000 of them.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import close, dumps_json

__all__ = ["ID_CONVERTOR", "MAX_BODY_BYTES", "WS_MAX_SIZE", "SafeJSONResponse", "install"]

WS_MAX_SIZE = 64 * 1024
MAX_BODY_BYTES = 64 * 1024
ID_CONVERTOR = "id"
_MAX_DEPTH = 32  # how deep an echoed validation error may go before it is summarised


class _IdConvertor(Convertor[int]):
    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor(ID_CONVERTOR, _IdConvertor())


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` made JSON-safe for an error reply: finite numbers, text, bounded depth."""
    if depth > _MAX_DEPTH:
        return "(nested too deeply to show)"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return jsonable_encoder(value)


class SafeJSONResponse(JSONResponse):
    """A JSONResponse that can encode any text, including lone surrogates (see ``dumps_json``)."""

    def render(self, content: Any) -> bytes:
        return dumps_json(content).encode()


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse({"detail": _plain(exc.errors())}, status_code=422)


async def _websocket_validation_error(websocket: WebSocket, exc: Exception) -> None:
    assert isinstance(exc, WebSocketRequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    )
    await close(websocket, CloseCode.POLICY_VIOLATION, problems or "invalid request")


def install(app: FastAPI) -> None:
    """Add the handlers above to ``app`` (``max_body_size`` itself is a ``FastAPI()`` argument)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _websocket_validation_error)
