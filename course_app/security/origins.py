"""An exact Origin allowlist: the defence against cross-site WebSocket hijacking.

A browser sends ``Origin`` on every WebSocket handshake, and a page cannot change
it. Browsers do not apply CORS to WebSockets, so the server must check it itself:
exact string equality with the origins of its own pages. Prefix, suffix or
substring tests let look-alikes through (``https://app.example.com.evil.test``,
``https://evil-app.example.com``); ``null`` (sandboxed frames, ``file:`` pages)
is never ours.

Policy for a missing Origin: browsers always send one, so its absence means a
non-browser client (a script, a service). Such a client cannot ride on a
victim's cookies, so ``allow_missing`` decides; the course's cookie route
refuses it (scripts use a token route instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["OriginAllowlist"]


@dataclass(frozen=True)
class OriginAllowlist:
    origins: frozenset[str]
    allow_missing: bool = False

    @classmethod
    def of(cls, origins: Iterable[str], *, allow_missing: bool = False) -> "OriginAllowlist":
        return cls(frozenset(origins), allow_missing)

    def allows(self, origin: str | None) -> bool:
        if origin is None:
            return self.allow_missing
        return origin in self.origins  # exact: no lowercasing, no prefixes, no parsing

    def why_not(self, origin: str | None) -> str:
        """A reason for the server log (the client only sees HTTP 403)."""
        if origin is None:
            return "no Origin header (not a browser), and this route is for browser pages"
        return f"Origin {origin[:100]!r} is not on the allowlist"
