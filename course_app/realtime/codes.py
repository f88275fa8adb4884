"""WebSocket close codes, named once for the whole course (RFC 6455 section 7.4, plus ours)."""

from enum import IntEnum

__all__ = ["CloseCode"]


class CloseCode(IntEnum):
    NORMAL = 1000  # done, nothing wrong
    GOING_AWAY = 1001  # server shutting down or browser tab closed
    UNSUPPORTED_DATA = 1003  # e.g. binary where text is expected
    NO_STATUS = 1005  # reserved: the close frame carried no code (never send it)
    ABNORMAL = 1006  # reserved: the TCP connection dropped without a close frame (never send it)
    INVALID_PAYLOAD = 1007  # text that is not valid UTF-8, or data of the wrong shape
    POLICY_VIOLATION = 1008  # the generic "you broke a rule" (bad origin, malformed auth)
    MESSAGE_TOO_BIG = 1009  # over the size cap
    INTERNAL_ERROR = 1011  # the server hit a bug
    SERVICE_RESTART = 1012  # uvicorn sends this on graceful shutdown: reconnect soon
    TRY_AGAIN_LATER = 1013  # overloaded: too many connections, come back later
    # 4000-4999 are free for applications.
    UNAUTHORIZED = 4001  # bad or missing token
    AUTH_TIMEOUT = 4002  # no credentials within the deadline
    HEARTBEAT_TIMEOUT = 4003  # the client missed too many application pings
    TOO_SLOW = 4004  # the client could not keep up with the stream
    TOKEN_EXPIRED = 4005  # the token ran out during the session: get a new one and reconnect
    RATE_LIMITED = 4029  # too many messages too fast (like HTTP 429)
