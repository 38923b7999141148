"""The page `voxport serve` shows at `GET /` (without Piper's `text`): try a voice in a browser.

Two static files shipped in the package (sdk/server/static/, package data): no CDN, no build step, so it
works offline. The page speaks through `/v1/audio/speech` with `stream_format: "sse"` (voxport.server.sse).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

STATIC = {"page.html": "text/html; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}


@cache
def _read(name: str) -> bytes:
    return files("voxport.server").joinpath("static", name).read_bytes()


def static(name: str) -> Response:
    # no-cache: the browser revalidates, so a page from an upgraded voxport never runs with an old script.
    return Response(_read(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


async def page_script(request: Request) -> Response:
    return static("page.js")
