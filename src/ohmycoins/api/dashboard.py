"""The dashboard: one static page at `/` and its assets under `/static/`.

The page (`static/index.html`, `app.js`, `style.css`) is plain HTML and vanilla JS
that reads the public API with `fetch`; its chart library is vendored
(`static/vendor/`), so it needs no build step and no network beyond this server.
Files are served from the package directory, only with a known type, and never
from outside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".LICENSE": "text/plain; charset=utf-8",
    ".NOTICE": "text/plain; charset=utf-8",
}
# Scripts, styles, data and images come from this server only: the page works offline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

AssetPath = Annotated[str, PathParam(max_length=200, description="A file under static/.")]


@router.get("/")
def index() -> FileResponse:
    """The dashboard page."""
    headers = {**_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    return FileResponse(
        STATIC_DIR / "index.html", media_type=CONTENT_TYPES[".html"], headers=headers
    )


@router.get("/static/{path:path}")
def static_file(path: AssetPath) -> FileResponse:
    """A file of the dashboard (script, style sheet, vendored library, licence)."""
    file = _resolve(path)
    return FileResponse(file, media_type=CONTENT_TYPES[file.suffix], headers=_HEADERS)


def _resolve(path: str) -> Path:
    """The file under STATIC_DIR named by `path`; 404 outside it or of an unknown type."""
    root = STATIC_DIR.resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or file.suffix not in CONTENT_TYPES or not file.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return file
