"""The web console (`/console`: try, monitor, review) and the self-hosted API docs (`/docs`)."""

from fastapi import APIRouter

from service.config import Settings
from service.console.docs import docs_router
from service.console.pages import console_router


def web_router(settings: Settings, *, title: str) -> APIRouter:
    """`/docs` always; `/console` unless SENTIMENT_CONSOLE=false."""
    router = APIRouter(include_in_schema=False)
    router.include_router(docs_router(title))
    if settings.console:
        router.include_router(console_router(settings))
    return router


__all__ = ["web_router"]
