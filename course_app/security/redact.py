"""Keep tokens out of log lines.

uvicorn logs every WebSocket handshake with its full path, query string
included: ``"WebSocket /ws/query?token=eyJ..." [accepted]``. Anyone who can read
the logs (or the proxy's, or the log service's) can then replay the token.
``RedactTokens`` rewrites ``token=...`` and anything that looks like a JWT
before the record is written.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactTokens", "install_redaction", "redact", "uninstall_redaction"]

_QUERY_SECRET = re.compile(r"((?:access_)?token=)[^&\s\"']+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*")
_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    return _JWT.sub("[redacted-jwt]", _QUERY_SECRET.sub(r"\1[redacted]", text))


class RedactTokens(logging.Filter):
    """A filter that rewrites the record's message; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactTokens()


def install_redaction() -> None:
    """Add the filter to uvicorn's loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def uninstall_redaction() -> None:
    for name in _LOGGERS:
        logging.getLogger(name).removeFilter(_filter)
