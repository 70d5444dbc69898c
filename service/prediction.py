"""The one prediction path every protocol adapts: check a text, pick the model, submit it with a
timeout; and readiness, which `/readyz` and the OIP health routes share."""

from __future__ import annotations

import asyncio
from typing import Any

from service.batcher import Outcome
from service.errors import InvalidText, RequestTimeout, ServiceError, TextTooLong
from service.rollout_state import RolloutState
from service.schemas import Health
from service.served import ServedModel
from service.state import ServiceState


def check_text(text: str, max_chars: int) -> ServiceError | None:
    """Return the error for a text the model must not see, or None."""
    if len(text) > max_chars:
        return TextTooLong(f"text has {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        return InvalidText("text is empty")
    if "\x00" in text:
        return InvalidText("text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return InvalidText("text contains an unpaired UTF-16 surrogate")
    return None


async def predict(service: ServiceState, served: ServedModel, texts: list[str]) -> list[Outcome]:
    """Submit checked texts to the model's batcher and wait, at most SENTIMENT_REQUEST_TIMEOUT_S."""
    futures = served.batcher.submit(texts)
    try:
        # asyncio.timeout rather than wait_for, and no gather for one text: no extra task per request
        async with asyncio.timeout(service.settings.request_timeout_s):
            if len(futures) == 1:
                return [await futures[0]]
            return await asyncio.gather(*futures)
    except TimeoutError:
        raise RequestTimeout("the prediction took too long; retry later", headers={"Retry-After": "1"}) from None
    finally:
        for future in futures:
            future.cancel()  # no-op when done; frees the slot when the client gave up or we timed out


def readiness(service: ServiceState) -> tuple[bool, Health]:
    """Whether the replica takes predictions (every model loaded, the log writer running), and why."""
    writer = service.writer
    models: dict[str, dict[str, Any]] = {
        name: {
            "version": served.predictor.version,
            "batcher": served.batcher.running and not service.draining,
            "rollout": served.rollout.check(served.predictor.version),
        }
        for name, served in service.models.items()
    }
    default = models.get(service.default_model)
    checks = {
        "model": default["version"] if default else None,
        "batcher": bool(models) and all(m["batcher"] for m in models.values()),
        "log_writer": writer is not None and writer.running,
        "log_degraded": writer.degraded if writer is not None else None,
        "log_error": writer.stats.last_error if writer is not None else None,
        "rollout": default["rollout"] if default else RolloutState().check(None),
        "models": models,
    }
    ready = bool(checks["batcher"] and checks["log_writer"])
    if ready and checks["log_degraded"] and service.settings.log_mode == "durable":
        ready = False  # durable mode cannot answer while its log cannot commit
    # A replica that cannot serve the newest rollout's version keeps serving its own: degraded, not down.
    degraded = checks["log_degraded"] or not all(m["rollout"]["in_step"] for m in models.values())
    status = "ready" if ready and not degraded else ("degraded" if ready else "not_ready")
    return ready, Health(status=status, checks=checks)
