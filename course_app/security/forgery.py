"""Tokens an attacker would try: for the notebook's demos, the checks and the attack corpus.

Each is what it says, built for real (PyJWT), never a string that merely looks bad.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt

from course_app.security.tokens import issue_token, signing_key

__all__ = ["forged_tokens"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(user: str = "alice") -> dict[str, str]:
    """name -> a token ``read_token`` must refuse."""
    now = time.time()
    claims = {"sub": user, "iat": int(now), "exp": now + 600}
    good = issue_token(user)
    header, payload, signature = good.split(".")
    return {
        "garbage": "not-a-token",
        "empty string": "",
        "expired": issue_token(user, ttl=-30),
        "signed with another key": issue_token(user, key=secrets.token_urlsafe(64)),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "HS512 with the right key": jwt.encode(claims, signing_key(), algorithm="HS512"),
        "payload swapped, signature kept": ".".join([header, _b64({**claims, "sub": "admin"}), signature]),
        "signature stripped": f"{header}.{payload}.",
        "no expiry claim": jwt.encode({"sub": user, "iat": int(now)}, signing_key(), algorithm="HS256"),
    }
