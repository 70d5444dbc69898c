"""The console's pages: Try (any key), Monitor and Review (admin key); small static HTML + scripts.

The pages hold no data: their scripts call the JSON API with the key that the user typed, kept in
the tab's sessionStorage (gone when the tab closes) and sent as `X-API-Key`, never in a URL.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from service.config import Settings
from service.console.assets import CONSOLE_CSP, SECURITY_HEADERS, TEMPLATES, asset

PAGES = {  # path -> (template, title, script)
    "/console": ("try.html", "Try", "try.js"),
    "/console/monitor": ("monitor.html", "Monitor", "monitor.js"),
    "/console/review": ("review.html", "Review", "review.js"),
}


def render(path: str, settings: Settings) -> str:
    """The page at `path`: the shared layout around the page's own markup."""
    template, title, script = PAGES[path]
    nav = "".join(
        f'<a href="{p}"{" aria-current=page" if p == path else ""}>{escape(t)}</a>' for p, (_, t, _) in PAGES.items()
    )
    scripts = ['<script src="/console/static/console.js" defer></script>']
    if path == "/console/monitor":
        scripts.insert(0, '<script src="/console/static/vendor/chartjs/chart.umd.min.js" defer></script>')
    scripts.append(f'<script src="/console/static/{script}" defer></script>')
    return (
        (TEMPLATES / "layout.html")
        .read_text()
        .replace("{{title}}", escape(title))
        .replace("{{nav}}", nav)
        .replace("{{page}}", (TEMPLATES / template).read_text())
        .replace("{{scripts}}", "\n  ".join(scripts))
        .replace("{{api_keys}}", "1" if settings.api_keys else "0")
        .replace("{{admin_keys}}", "1" if settings.admin_keys else "0")
    )


def console_router(settings: Settings) -> APIRouter:
    """Routes of the console (not in the OpenAPI schema: they answer HTML, not the API)."""
    router = APIRouter(include_in_schema=False)
    rendered = {path: render(path, settings) for path in PAGES}  # read once: nothing per request
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store"}

    def page(path: str) -> None:
        async def show() -> HTMLResponse:
            return HTMLResponse(rendered[path], headers=headers)

        router.add_api_route(path, show, methods=["GET"])

    for path in PAGES:
        page(path)

    @router.get("/console/static/{name:path}")
    async def static(name: str) -> FileResponse:
        return asset(name)

    return router
