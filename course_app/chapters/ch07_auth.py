"""Chapter 07: authenticating WebSockets, four ways, and the limits that protect the server.

| route | credentials | refused how |
|---|---|---|
| ``POST /token`` | OAuth2 password form | HTTP 401 |
| ``POST /login`` / ``POST /logout`` | password form; sets / clears an HttpOnly cookie | HTTP 401 |
| ``/ws/secure`` | first message ``{"token": ...}`` within ``AUTH_TIMEOUT`` | close 4001 bad or expired token, 4002 deadline missed, 1008 malformed, 1009 too big |
| ``/ws/query?token=...`` | token in the query string (lands in logs: redacted) | HTTP 403 before accept |
| ``/ws/cookie`` | the HttpOnly cookie, and an Origin on the exact allowlist | HTTP 403 before accept |
| ``/ws/cookie/no-origin-check`` | the cookie only: the hijackable route of the demo, never copy it | HTTP 403 before accept |
| ``/ws/protocol`` | ``Sec-WebSocket-Protocol: bearer, <token>`` | HTTP 403 before accept |
| ``/ws/handshake`` | none: tells a client which headers its handshake carried | |

Once authenticated, every route runs the same session:

* ``{"room": "ops", "text": "hi"}`` goes to every connection of the room's members;
  a room the user is not in gets an error frame ``forbidden`` (per-message authorization);
* ``{"type": "refresh", "token": ...}`` swaps in a newer token of the same user;
* the token's expiry is checked again all the time: close 4005 when it runs out;
* a token bucket per connection: ``rate_limited`` error frames first, 1008 after ``MAX_STRIKES``;
* at most ``MAX_CONNECTIONS_PER_USER`` sessions per user: the next one is closed with 1013;
* frames over ``MAX_MESSAGE_BYTES`` close with 1009, binary frames with 1003.

Nothing here logs a token or a message body.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect, status
from fastapi.security import OAuth2PasswordRequestForm
from starlette.concurrency import run_in_threadpool

from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, parse_json, receive_frame, receive_text
from course_app.security.origins import OriginAllowlist
from course_app.security.passwords import ROOMS, authenticate
from course_app.security.ratelimit import TokenBucket
from course_app.security.redact import install_redaction
from course_app.security.sessions import SessionRegistry
from course_app.security.tokens import DEFAULT_TTL, BadToken, Claims, issue_token, read_token

__all__ = [
    "AUTH_TIMEOUT",
    "BURST",
    "COOKIE",
    "MAX_CONNECTIONS_PER_USER",
    "MAX_MESSAGE_BYTES",
    "MAX_STRIKES",
    "RATE",
    "allowed_origins",
    "lifespan",
    "router",
]

AUTH_TIMEOUT = 5.0  # seconds to send {"token": ...} on /ws/secure
MAX_MESSAGE_BYTES = 4096  # per frame, the first one included; uvicorn's own cap (ws_max_size) is 16 MiB
RATE = 5.0  # messages per second, per connection ...
BURST = 10  # ... after a burst of this many
MAX_STRIKES = 10  # refused messages before the connection is closed (1008)
MAX_CONNECTIONS_PER_USER = 5
COOKIE = "course_session"
PROTOCOL = "bearer"  # the subprotocol /ws/protocol answers with (never the token itself)

log = logging.getLogger("course_app.security")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.ch07_sessions = SessionRegistry(MAX_CONNECTIONS_PER_USER)
    install_redaction()  # uvicorn logs every handshake path, query string included
    yield


router = APIRouter(tags=["ch07 auth"], lifespan=lifespan)  # include_router runs the lifespan with the app's


def _sessions(websocket: WebSocket) -> SessionRegistry:
    state = websocket.app.state
    if not hasattr(state, "ch07_sessions"):  # mounted without its lifespan
        state.ch07_sessions = SessionRegistry(MAX_CONNECTIONS_PER_USER)
    registry: SessionRegistry = state.ch07_sessions
    return registry


# -- HTTP: getting a token ---------------------------------------------------------

async def _login(form: OAuth2PasswordRequestForm) -> str:
    user = await run_in_threadpool(authenticate, form.username, form.password)  # argon2 is slow on purpose
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


@router.post("/token")
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    """OAuth2 password flow: a signed, expiring JWT for a demo user."""
    user = await _login(form)
    return {"access_token": issue_token(user), "token_type": "bearer", "expires_in": DEFAULT_TTL}


@router.post("/login")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, response: Response) -> dict[str, str]:
    """The same login, but the token goes into an HttpOnly cookie that page scripts cannot read."""
    user = await _login(form)
    response.set_cookie(
        COOKIE,
        issue_token(user),
        max_age=DEFAULT_TTL,
        httponly=True,  # document.cookie cannot see it, so an injected script cannot steal it
        samesite="lax",  # note: another port or a sibling subdomain is the SAME site; this does not stop hijacking
        secure=request.url.scheme == "https",
        path="/",
    )
    return {"user": user}


@router.post("/logout")
async def logout(response: Response) -> dict[str, str]:
    response.delete_cookie(COOKIE, path="/")
    return {"detail": "logged out"}


# -- the authenticated session ---------------------------------------------------------

def _error(kind: str, detail: str) -> dict[str, str]:
    return {"type": "error", "error": kind, "detail": detail}


async def _handle(websocket: WebSocket, claims: Claims, text: str, sessions: SessionRegistry) -> Claims:
    """One message of an authenticated user; returns the (possibly refreshed) claims."""
    try:
        message = parse_json(text)
    except ValueError:
        await websocket.send_json(_error("bad_json", "send JSON text, e.g. {\"room\": \"general\", \"text\": \"hi\"}"))
        return claims
    if isinstance(message, dict) and message.get("type") == "refresh":
        try:
            fresh = read_token(message.get("token"))
        except BadToken as bad:
            await websocket.send_json(_error("bad_token", str(bad)))
            return claims
        if fresh.user != claims.user:
            await websocket.send_json(_error("forbidden", "a refresh token must belong to the same user"))
            return claims
        await websocket.send_json({"type": "refreshed", "expires_in": round(fresh.seconds_left())})
        return fresh
    if not (isinstance(message, dict) and isinstance(message.get("room"), str) and isinstance(message.get("text"), str)):
        await websocket.send_json(_error("bad_message", "expected {\"room\": <string>, \"text\": <string>}"))
        return claims
    room = message["room"]
    members = [user for user, rooms in ROOMS.items() if room in rooms]
    if claims.user not in members:
        # Authenticated is not authorized: check every message, not just the handshake.
        # The reply does not say whether the room exists.
        await websocket.send_json(_error("forbidden", f"you are not a member of room {room[:40]!r}"))
        return claims
    await sessions.send_to(members, {"type": "message", "room": room, "from": claims.user, "text": message["text"]})
    return claims


async def _session(websocket: WebSocket, claims: Claims) -> None:
    """Run an accepted, authenticated connection until it ends, whichever way it ends."""
    sessions = _sessions(websocket)
    if not sessions.join(claims.user, websocket):
        await websocket.close(
            CloseCode.TRY_AGAIN_LATER,
            f"at most {sessions.max_per_user} connections per user: close one, then try again later",
        )
        return
    try:
        await websocket.send_json({
            "status": "authenticated",
            "user": claims.user,
            "rooms": sorted(ROOMS.get(claims.user, ())),
            "expires_in": round(claims.seconds_left()),
        })
        bucket = TokenBucket(RATE, BURST)  # one per connection: another client's flood costs you nothing
        strikes = 0
        while True:
            try:
                # The token may run out while the connection is open: wait no longer than it lives.
                async with asyncio.timeout(max(claims.seconds_left(), 0)):
                    text = await receive_text(websocket, MAX_MESSAGE_BYTES)
            except TimeoutError:
                await websocket.close(CloseCode.TOKEN_EXPIRED, "your token expired: log in again, then reconnect")
                return
            if not bucket.take():
                strikes += 1
                if strikes > MAX_STRIKES:
                    await websocket.close(CloseCode.POLICY_VIOLATION, "too many messages, again and again: slow down")
                    return
                await websocket.send_json(_error("rate_limited", f"at most {RATE:g} messages per second; this one was dropped"))
                continue
            claims = await _handle(websocket, claims, text, sessions)
    except WebSocketDisconnect:
        pass  # the client left
    except BadFrame as bad:
        await websocket.close(bad.code, bad.reason)
    finally:
        sessions.leave(claims.user, websocket)


async def _refuse_handshake(websocket: WebSocket, why: str) -> None:
    """Close before accept: uvicorn answers HTTP 403, and a browser sees only code 1006."""
    log.info("refused %s: %s", websocket.url.path, why)  # the path, never the query string
    await websocket.close(CloseCode.POLICY_VIOLATION)


# -- 1. first-message auth (the classic /ws/secure) -------------------------------------

async def _close(websocket: WebSocket, code: CloseCode, reason: str) -> None:
    await websocket.close(code, reason)


async def first_message_claims(websocket: WebSocket, timeout: float | None = None) -> Claims | None:
    """Read ``{"token": ...}`` within ``timeout`` (default ``AUTH_TIMEOUT``); on any failure close with its code, return None.

    Nothing else is read or answered before the token is verified.
    """
    timeout = AUTH_TIMEOUT if timeout is None else timeout
    try:
        async with asyncio.timeout(timeout):  # the whole message, however slowly it drips in
            frame = await receive_frame(websocket, MAX_MESSAGE_BYTES)
    except TimeoutError:
        await _close(websocket, CloseCode.AUTH_TIMEOUT, f"no credentials within {timeout:g} s: send {{\"token\": ...}} first")
        return None
    except BadFrame as bad:
        await _close(websocket, bad.code, bad.reason)
        return None
    shape = 'the first message must be a JSON text frame {"token": "<access token>"}'
    if isinstance(frame, bytes):
        await _close(websocket, CloseCode.POLICY_VIOLATION, shape)
        return None
    try:
        message = parse_json(frame)
    except ValueError:
        await _close(websocket, CloseCode.POLICY_VIOLATION, shape)
        return None
    if not isinstance(message, dict) or not isinstance(message.get("token"), str):
        await _close(websocket, CloseCode.POLICY_VIOLATION, shape)
        return None
    try:
        return read_token(message["token"])
    except BadToken as bad:
        await _close(websocket, CloseCode.UNAUTHORIZED, f"unauthorized: {bad}")
        return None


@router.websocket("/ws/secure")
async def ws_secure(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        claims = await first_message_claims(websocket)
    except WebSocketDisconnect:
        return  # the client left before authenticating
    if claims is not None:
        await _session(websocket, claims)


# -- 2. token in the query string ------------------------------------------------------

@router.websocket("/ws/query")
async def ws_query(websocket: WebSocket) -> None:
    try:
        claims = read_token(websocket.query_params.get("token"))
    except BadToken as bad:
        await _refuse_handshake(websocket, str(bad))
        return
    await websocket.accept()
    await _session(websocket, claims)


# -- 3. HttpOnly cookie, with and without the Origin check -------------------------------

def allowed_origins(websocket: WebSocket) -> OriginAllowlist:
    """The origins of this server's own pages, exactly, plus COURSE_ALLOWED_ORIGINS (comma-separated).

    Built from the address the server listens on (the ASGI ``server`` tuple), never
    from the request's Host header, which a non-browser client can set to anything.
    """
    extra = [o.strip() for o in os.environ.get("COURSE_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    own: list[str] = []
    server = websocket.scope.get("server")
    if server and server[1] is not None:
        host, port = server
        scheme = "https" if websocket.scope.get("scheme") == "wss" else "http"  # the scheme our pages are served with
        names = {host, "localhost"} if host in ("127.0.0.1", "::1") else {host}
        own = [f"{scheme}://{name}:{port}" for name in sorted(names)]
    return OriginAllowlist.of([*own, *extra], allow_missing=False)


async def _cookie_claims(websocket: WebSocket) -> Claims | None:
    try:
        return read_token(websocket.cookies.get(COOKIE))
    except BadToken as bad:
        await _refuse_handshake(websocket, f"cookie: {bad}")
        return None


@router.websocket("/ws/cookie")
async def ws_cookie(websocket: WebSocket) -> None:
    # The browser attaches the cookie to a handshake from ANY page, so check who asks first.
    allowlist = allowed_origins(websocket)
    origin = websocket.headers.get("origin")
    if not allowlist.allows(origin):
        await _refuse_handshake(websocket, allowlist.why_not(origin))
        return
    claims = await _cookie_claims(websocket)
    if claims is None:
        return
    await websocket.accept()
    await _session(websocket, claims)


@router.websocket("/ws/cookie/no-origin-check")
async def ws_cookie_no_origin_check(websocket: WebSocket) -> None:
    """The bug of the hijacking demo: any page the victim opens can use their cookie here."""
    claims = await _cookie_claims(websocket)
    if claims is None:
        return
    await websocket.accept()
    await _session(websocket, claims)


# -- 4. Sec-WebSocket-Protocol -------------------------------------------------------------

@router.websocket("/ws/protocol")
async def ws_protocol(websocket: WebSocket) -> None:
    """``new WebSocket(url, ["bearer", token])``: the token rides in the subprotocol header."""
    offered: list[str] = list(websocket.scope.get("subprotocols", []))
    token = offered[offered.index(PROTOCOL) + 1] if PROTOCOL in offered[:-1] else None
    try:
        claims = read_token(token)
    except BadToken as bad:
        await _refuse_handshake(websocket, f"subprotocol: {bad}")
        return
    await websocket.accept(subprotocol=PROTOCOL)  # answer with the protocol name, never echo the token
    await _session(websocket, claims)


# -- what a handshake carries ------------------------------------------------------------------

_SHOWN = {"origin", "host", "user-agent", "sec-websocket-version"}


@router.websocket("/ws/handshake")
async def ws_handshake(websocket: WebSocket) -> None:
    """Send back which headers the handshake carried (values only for harmless ones), then close."""
    seen = {name: (value if name in _SHOWN else "(present)") for name, value in websocket.headers.items()}
    await websocket.accept()
    await websocket.send_json({"headers": seen, "authorization": "authorization" in websocket.headers})
    await websocket.close(CloseCode.NORMAL, "that was all")
