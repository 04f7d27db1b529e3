"""The door of the service: headers, room in the worker and body size, checked before BentoML.

BentoML 1.4 reads any body whole, however large, and answers /readyz with an empty 200. This
ASGI middleware answers those cases itself, cheaply and with the 4xx body of serving/errors.py,
in this order, each before any byte of the body is read:
- 400 for a repeated Content-Type or Authorization header (the guard and BentoML could read
  different ones);
- 401 without the token (when LEADSCORE_API_TOKEN is set; compared in constant time);
- 415 for a body that is not JSON; 413 for a declared length past the limit;
- room: at most `max_concurrency` scoring requests of a worker are read and scored at once,
  up to `max_waiting` more wait their turn (their bodies unread), and past that a request is
  answered 429 with Retry-After, so a worker holds a bounded number of bodies in memory.
Then the body is read, 413 as soon as a streamed body passes the limit, 400 if empty.
Health, metrics and docs stay open.

The guard also notes who asked (`X-Leadscore-Caller`, for the decision trail) where every
endpoint can read it, `request_caller()`, so no endpoint needs BentoML's request context.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from features.errors import LeadscoreError
from serving.config import ServeConfig
from serving.errors import Rejected, rejected

TOKEN_ENV = "LEADSCORE_API_TOKEN"
READYZ = "/readyz"
SINGLE = (b"content-type", b"authorization")
BODY_METHODS = ("POST", "PUT")
RETRY_AFTER_SECONDS = 1
CALLER_HEADER = b"x-leadscore-caller"
DEFAULT_CALLER = "api"
MAX_CALLER = 100
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
# Set by the guard before it hands a request on: the endpoint runs in the same context (or a
# copy of it: asyncio.to_thread copies it), so each request reads its own caller.
_caller: ContextVar[str] = ContextVar("leadscore_caller", default=DEFAULT_CALLER)


def request_caller() -> str:
    """Who asked, as the caller names itself (X-Leadscore-Caller), else "api"."""
    return _caller.get()


def api_token() -> str | None:
    """The bearer token the endpoints require, or None (auth off) when the variable is unset.

    Set but blank is refused: an operator who sets it means to turn auth on, and an empty
    token would silently turn it off.
    """
    token = os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise LeadscoreError(
            f"{TOKEN_ENV} is set but empty: set it to a secret token, or unset it to serve "
            "without authentication"
        )
    return token


def url_patterns(api_paths: Sequence[str]) -> list[str]:
    """The guard's paths (exact, or by prefix when given with a trailing slash) as regular
    expressions over a whole URL, for settings that match URLs: BentoML's tracing
    `excluded_urls`."""
    return [
        f"^https?://[^/]+{re.escape(path)}{'' if path.endswith('/') else '$'}" for path in api_paths
    ]


class Guard:
    """ASGI middleware in front of the scoring endpoints (see the module docstring)."""

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        api_paths: Sequence[str],
        limits: ServeConfig,
        readiness: Callable[[], tuple[int, dict[str, Any]]],
        on_refusal: Callable[[Rejected], None],
    ) -> None:
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.api_prefixes = tuple(path for path in api_paths if path.endswith("/"))
        self.max_body_bytes = limits.max_body_bytes
        self.max_waiting = limits.max_waiting
        self.readiness = readiness
        self.on_refusal = on_refusal
        self._slots = asyncio.Semaphore(limits.max_concurrency)
        self._waiting = 0
        # Read when a worker builds its app, not at import; kept as bytes for compare_digest.
        token = api_token()
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == READYZ:
            status, body = self.readiness()
            return await _answer(send, status, json.dumps(body).encode())
        if not self._guards(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        refusal = (
            _check_repeated(scope["headers"])
            or self._check_headers(headers, scope["method"])
            or self._check_room()
        )
        if refusal is not None:
            return await self._refuse(send, refusal)
        _caller.set(_caller_of(headers))
        if scope["method"] not in BODY_METHODS:  # a read: nothing to hold
            return await self.app(scope, receive, send)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            body, refusal = await self._read_body(receive)
            if refusal is not None:
                return await self._refuse(send, refusal)
            await self.app(scope, _replay(body, receive), send)
        finally:
            self._slots.release()

    def _guards(self, path: str) -> bool:
        """An endpoint path (exact), or under one (a path given with a trailing slash)."""
        return path in self.api_paths or any(
            path.startswith(prefix) for prefix in self.api_prefixes
        )

    def _check_headers(self, headers: dict[bytes, bytes], method: str) -> Rejected | None:
        if self.expected is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), self.expected
        ):
            return rejected(401, "unauthorized", "Authorization", "missing or wrong bearer token")
        if method not in BODY_METHODS:
            return None
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip()
        if media_type.lower() != b"application/json":
            return rejected(
                415,
                "media_type",
                "Content-Type",
                f"must be application/json (got {media_type.decode('latin-1')!r})",
            )
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large(int(declared))
        return None

    def _check_room(self) -> Rejected | None:
        if self._slots.locked() and self._waiting >= self.max_waiting:
            return rejected(
                429,
                "busy",
                "request",
                f"this worker is busy with all the requests it takes; retry in "
                f"{RETRY_AFTER_SECONDS} s",
            )
        return None

    async def _refuse(self, send: Send, refusal: Rejected) -> None:
        self.on_refusal(refusal)
        extra = {
            401: [(b"www-authenticate", b"Bearer")],
            429: [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
        }
        await _answer(send, refusal.status, refusal.body(), extra.get(refusal.status))

    async def _read_body(self, receive: Receive) -> tuple[bytes, Rejected | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"", rejected(400, "disconnected", "body", "the client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size == 0:
            return b"", rejected(400, "empty", "body", "is empty: send the lead as a JSON object")
        return b"".join(chunks), None

    def _too_large(self, size: int) -> Rejected:
        return rejected(
            413,
            "too_large",
            "body",
            f"is {size:,} bytes or more, over the limit of {self.max_body_bytes:,} bytes",
        )


def _check_repeated(raw: list[tuple[bytes, bytes]]) -> Rejected | None:
    repeated = [name for name, n in Counter(name for name, _ in raw).items() if n > 1]
    for name in SINGLE:
        if name in repeated:
            header = name.decode().title()
            return rejected(400, "repeated_header", header, "must be sent once, not repeated")
    return None


def _caller_of(headers: dict[bytes, bytes]) -> str:
    named = headers.get(CALLER_HEADER, b"").decode("latin-1").strip()[:MAX_CALLER].strip()
    return named or DEFAULT_CALLER


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body to the app once, then defers to the client."""
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
