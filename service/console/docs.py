"""`/docs`: Swagger UI from files in the package, so the docs work on a closed network.

FastAPI's default page loads Swagger UI from a CDN (a blank page without internet); this is its
documented self-hosting recipe with the files of `swagger-ui-dist` (see static/vendor/README.md).
ReDoc is turned off rather than shipped twice over.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from service.console.assets import SECURITY_HEADERS, AssetNotFound, asset

ASSETS = "/docs/static"


def _page(title: str) -> tuple[bytes, str]:
    """Swagger UI's page and a CSP that allows its one inline script by hash, and nothing remote."""
    html = bytes(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=title,
            swagger_js_url=f"{ASSETS}/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/vendor/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": False},
        ).body
    )
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in re.findall(r"<script>(.*?)</script>", html.decode(), flags=re.S)
    ]
    csp = (
        f"default-src 'none'; script-src 'self' {' '.join(hashes)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return html, csp


def docs_router(title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    html, csp = _page(title)
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp, "Cache-Control": "no-store"}

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    @router.get(f"{ASSETS}/{{name:path}}")
    async def static(name: str) -> FileResponse:
        if not name.startswith("vendor/swagger-ui/"):  # the docs serve their own files only
            raise AssetNotFound(f"no such docs asset: {name}")
        return asset(name)

    return router
