"""The HTTP app's outer layers: refusals as OpenAI-shaped JSON, the API-key check, and answers cut off
mid-stream logged in one line."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from starlette.responses import JSONResponse

from voxport.server.errors import ShuttingDown

log = logging.getLogger("voxport.server.http")
# Needs no key: probes and scrapers carry none, and a browser loads the page (and its script) before anyone
# could type a key into it; the page then sends the key with every request it makes.
OPEN_PATHS = ("/health", "/metrics", "/page.js")


def error(status: int, exc: BaseException, headers: dict[str, str] | None = None) -> JSONResponse:
    # OpenAI's error shape, which its client turns into a readable exception.
    message = str(exc).strip("'\"")
    return JSONResponse({"error": {"message": message, "type": type(exc).__name__}}, status, headers=headers)


class CutOffQuietly:
    """An answer cut off mid-stream (past the request timeout, or at the end of a shutdown's drain) ends
    with the connection closed, so the client sees an incomplete body: expected, so one log line rather
    than the server's "Exception in ASGI application" traceback."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # Starlette re-raises a handled exception met after the response started as a RuntimeError.
            cause = exc if isinstance(exc, (ShuttingDown, TimeoutError)) else exc.__cause__
            if not started or not isinstance(cause, (ShuttingDown, TimeoutError)):
                raise
            log.warning("%s: answer cut off mid-stream: %s", scope.get("path"), cause)


def is_page_request(scope: Any) -> bool:
    """`GET /` without Piper's `text`: the page, not speech."""
    if scope["path"] != "/" or scope.get("method") not in ("GET", "HEAD"):
        return False
    from urllib.parse import parse_qs

    return "text" not in parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


class ApiKey:
    """Bearer-token check for every route but the open ones (OPEN_PATHS and the page itself)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not is_page_request(scope):
            auth = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(auth, b"Bearer " + self.key):
                await error(401, PermissionError("missing or wrong API key"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
