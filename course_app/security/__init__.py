"""Security building blocks for chapter 07, one idea per module.

* ``tokens``    -- signed, expiring JWTs (PyJWT, HS256, one pinned algorithm)
* ``passwords`` -- the demo users and their argon2 password hashes (pwdlib)
* ``origins``   -- an exact Origin allowlist (the defence against cross-site WebSocket hijacking)
* ``ratelimit`` -- a token bucket, one per connection
* ``redact``    -- a logging filter that keeps tokens out of log lines
"""

from course_app.security.origins import OriginAllowlist
from course_app.security.ratelimit import TokenBucket
from course_app.security.redact import RedactTokens, install_redaction, uninstall_redaction
from course_app.security.tokens import BadToken, Claims, ExpiredToken, issue_token, read_token

__all__ = [
    "BadToken",
    "Claims",
    "ExpiredToken",
    "OriginAllowlist",
    "RedactTokens",
    "TokenBucket",
    "install_redaction",
    "issue_token",
    "read_token",
    "uninstall_redaction",
]
