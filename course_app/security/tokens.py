"""Signed, expiring access tokens (JWT, HS256) with PyJWT.

    token = issue_token("alice", ttl=900)
    claims = read_token(token)        # raises BadToken (or its subclass ExpiredToken)

The signing key is random per process unless ``COURSE_JWT_SECRET`` is set (set it
when several workers must accept each other's tokens). ``read_token`` pins the
algorithm: a token that says ``alg: none``, or names another algorithm, is refused
before its signature is even looked at. PyJWT compares signatures with
``hmac.compare_digest`` (constant time), so timing does not leak the right one.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass

import jwt

__all__ = ["ALGORITHM", "BadToken", "Claims", "ExpiredToken", "issue_token", "read_token", "signing_key"]

ALGORITHM = "HS256"
DEFAULT_TTL = 15 * 60  # seconds; short-lived tokens limit the damage of a leak
_LEEWAY = 0  # no grace: an expired token is expired
_process_key = secrets.token_urlsafe(64)  # 64 bytes: long enough for any HMAC-SHA2 (RFC 7518 3.2)


class BadToken(Exception):
    """The token cannot be trusted; the message says why, without echoing the token."""


class ExpiredToken(BadToken):
    """The token was valid once, and its ``exp`` has passed."""


@dataclass(frozen=True)
class Claims:
    user: str
    expires_at: float  # Unix time

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def signing_key() -> str:
    """COURSE_JWT_SECRET when set (shared by workers), else this process's random key."""
    return os.environ.get("COURSE_JWT_SECRET") or _process_key


def issue_token(user: str, ttl: float = DEFAULT_TTL, *, key: str | None = None) -> str:
    """A token for ``user`` that expires ``ttl`` seconds from now (``key`` only for demos of forgery)."""
    now = time.time()
    claims = {"sub": user, "iat": int(now), "exp": now + ttl}
    return jwt.encode(claims, key or signing_key(), algorithm=ALGORITHM)


def read_token(token: object) -> Claims:
    """The verified claims of ``token``; ``BadToken`` for anything that is not a valid, current token."""
    if not isinstance(token, str) or not token:
        raise BadToken("the token must be a non-empty string")
    if not token.isascii():  # a JWT is base64url text; anything else (a lone surrogate too) is not one
        raise BadToken("the token is not valid (not ASCII)")
    try:
        claims = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],  # pinned: never trust the token's own "alg" header
            options={"require": ["sub", "exp", "iat"]},
            leeway=_LEEWAY,
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken("the token has expired: log in again for a new one") from None
    except jwt.InvalidTokenError as err:
        raise BadToken(f"the token is not valid ({type(err).__name__})") from None
    user = claims["sub"]
    if not isinstance(user, str) or not user:
        raise BadToken("the token names no user")
    return Claims(user=user, expires_at=float(claims["exp"]))
