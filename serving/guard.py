"""The door of the service: bearer token, content type and body size, checked before BentoML.

BentoML 1.4 reads any body whole, however large, and answers /readyz with an empty 200. This
ASGI middleware answers those cases itself, cheaply and with the 4xx body of serving/errors.py:
401 without the token (when LEADSCORE_API_TOKEN is set; compared in constant time), 415 for a
body that is not JSON, 413 past the size limit (refused from Content-Length, or as soon as
a streamed body passes it), 400 for an empty body. Health, metrics and docs stay open.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from serving.errors import Rejected, rejected

TOKEN_ENV = "LEADSCORE_API_TOKEN"
READYZ = "/readyz"
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class Guard:
    """ASGI middleware in front of the scoring endpoints (see the module docstring)."""

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        api_paths: Sequence[str],
        max_body_bytes: int,
        readiness: Callable[[], tuple[int, dict[str, Any]]],
        on_refusal: Callable[[Rejected], None],
    ) -> None:
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness
        self.on_refusal = on_refusal
        # Read when a worker builds its app, not at import; kept as bytes for compare_digest.
        token = os.environ.get(TOKEN_ENV)
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == READYZ:
            status, body = self.readiness()
            return await _answer(send, status, json.dumps(body).encode())
        if scope["path"] not in self.api_paths or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        refusal = self._check_headers(dict(scope["headers"]))
        body = b""
        if refusal is None:
            body, refusal = await self._read_body(receive)
        if refusal is not None:
            self.on_refusal(refusal)
            extra = [(b"www-authenticate", b"Bearer")] if refusal.status == 401 else []
            return await _answer(send, refusal.status, refusal.body(), extra)
        await self.app(scope, _replay(body, receive), send)

    def _check_headers(self, headers: dict[bytes, bytes]) -> Rejected | None:
        if self.expected is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), self.expected
        ):
            return rejected(401, "unauthorized", "Authorization", "missing or wrong bearer token")
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
