"""Who may see the pages: with LEADSCORE_API_TOKEN set, only a caller who knows the token.

A script sends `Authorization: Bearer <token>`, as to /score. A browser logs in once on
/pages/login and gets a session cookie (HttpOnly: no script reads it; SameSite=Strict: no
other site's page can send it; no expiry: it ends with the browser session). The cookie holds
an HMAC of a fixed message keyed by the token, not the token, so a cookie seen in a log does
not open /score, and every worker checks it without shared state; changing the token ends
every session. Both are compared in constant time. Without the variable, the pages are open
like the rest of the service.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.requests import Request

from serving.errors import Rejected, rejected
from serving.guard import api_token

COOKIE = "leadscore_session"
PATH = "/pages"
MAX_FORM_BYTES = 4096
_MESSAGE = b"leadscore pages session v1"


def session_value(token: str) -> str:
    """The cookie's value for a token."""
    return hmac.new(token.encode(), _MESSAGE, hashlib.sha256).hexdigest()


def allowed(request: Request) -> bool:
    """Whether the request may read the pages (the token's header, or the session cookie)."""
    token = api_token()
    if token is None:
        return True
    header = request.headers.get("authorization", "").encode()
    cookie = request.cookies.get(COOKIE, "").encode()
    # Both compared every time, so the answer's timing says nothing about which was sent.
    by_header = hmac.compare_digest(header, f"Bearer {token}".encode())
    by_cookie = hmac.compare_digest(cookie, session_value(token).encode())
    return by_header or by_cookie


def cookie_header(token: str) -> str:
    """The Set-Cookie value that opens a browser session."""
    return f"{COOKIE}={session_value(token)}; Path={PATH}; HttpOnly; SameSite=Strict"


def logout_header() -> str:
    return f"{COOKIE}=; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age=0"


async def login_token(request: Request) -> str | Rejected:
    """The `token` field of a login form, or the refusal naming what is wrong with the post."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return rejected(
            415, "media_type", "Content-Type", "must be application/x-www-form-urlencoded"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return rejected(413, "too_large", "body", f"is over {MAX_FORM_BYTES:,} bytes")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return rejected(400, "invalid", "body", "is not a URL-encoded form")
    given = fields.get("token", [""])[0]
    if not given:
        return rejected(400, "invalid", "token", "is required")
    return given


def token_matches(given: str) -> bool:
    token = api_token()
    return token is None or hmac.compare_digest(given.encode(), token.encode())
