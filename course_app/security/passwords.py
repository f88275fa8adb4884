"""The demo users, their argon2 password hashes (pwdlib), and a login that leaks nothing.

Passwords are stored only as argon2id hashes. ``authenticate`` takes the same time
whether or not the user exists (it verifies against a dummy hash for unknown
names), so response times do not reveal who has an account. Hashing is slow on
purpose (~0.1 s): call ``authenticate`` from a thread, never on the event loop.
"""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash

__all__ = ["DEMO_PASSWORDS", "ROOMS", "authenticate", "hasher"]

# Demo accounts of the course (a real app keeps only the hashes, in a database).
DEMO_PASSWORDS = {"alice": "wonderland", "bob": "builder"}
# Which rooms each user belongs to (per-message authorization uses this).
ROOMS = {"alice": frozenset({"general", "ops"}), "bob": frozenset({"general"})}


@cache
def hasher() -> PasswordHash:
    return PasswordHash.recommended()  # argon2id with pwdlib's recommended cost


@cache
def _dummy_hash() -> str:
    return hasher().hash("not anybody's password")


@cache
def _hashes() -> dict[str, str]:
    _dummy_hash()  # made now too, so the first unknown user does not pay for it (a timing tell)
    return {user: hasher().hash(password) for user, password in DEMO_PASSWORDS.items()}


def authenticate(username: str, password: str) -> str | None:
    """The user's name when the password is right, else None; the same work either way."""
    stored = _hashes().get(username)
    ok = hasher().verify(password, stored or _dummy_hash())
    return username if ok and stored is not None else None
