"""Files shipped in the package (`static/`), answered with headers that suit a closed network."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from service.errors import ServiceError

STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent / "templates"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

# Pages load scripts, styles, images and API answers from this service only. No inline script
# or style is needed (scripts set styles through the CSSOM, which CSP does not restrict).
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class AssetNotFound(ServiceError):
    status, code = 404, "not_found"


def asset(name: str) -> FileResponse:
    """Answer one file under `static/`; a name outside it, or a missing file, is a JSON 404."""
    try:
        path = (STATIC / name).resolve()
        found = path.is_relative_to(STATIC) and path.suffix in _TYPES and path.is_file()
    except (ValueError, OSError):  # an embedded NUL, a name over NAME_MAX: no such file either
        found = False
    if not found:
        raise AssetNotFound(f"no such console asset: {name!r}")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=headers)
