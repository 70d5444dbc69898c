"""The app factory and its lifespan: load the model, open the log, start and stop the workers."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial

from fastapi import FastAPI

from model import Predictor
from service.batcher import MicroBatcher
from service.config import Settings
from service.errors import install_error_handlers
from service.log import RequestLogWriter, make_engine, upgrade_schema
from service.middleware import RequestContextMiddleware
from service.oip import router as oip_router
from service.routes import fast_predict_one, reload, router
from service.runtime import Runtime

log = logging.getLogger("service")


def create_app(settings: Settings | None = None, *, predictor: Predictor | None = None) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts.

    `predictor`, when given, is served at start instead of loading the configured artifact again
    (`python -m service` loads it first so that a bad artifact stops it before the port is bound).
    """
    runtime = Runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = runtime.settings
        first = predictor if predictor is not None else await asyncio.to_thread(runtime.load_predictor)
        log.info("model %s loaded from %s (runtime %s)", first.version, first.artifact.path, first.runtime)
        engine = make_engine(s.database_url, durable=s.log_mode == "durable", max_mb=s.log_max_mb)
        await asyncio.to_thread(upgrade_schema, engine)
        runtime.engine = engine
        m = runtime.metrics
        writer = RequestLogWriter(
            engine,
            flush_s=s.log_flush_ms / 1000,
            max_pending=s.log_max_pending,
            on_written=m.log_written.inc,
            on_dropped=m.log_dropped.inc,
        )
        writer.start()
        runtime.writer = writer
        batcher = MicroBatcher(first, max_batch_size=s.max_batch_size, max_queue=s.max_queue, on_batch=runtime.on_batch)
        batcher.start()
        runtime.batcher = batcher
        runtime.announce_model(first)
        loop = asyncio.get_running_loop()
        with suppress(NotImplementedError, RuntimeError, ValueError):  # not on Windows / not main thread
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload_on_signal(runtime)))
        try:
            yield
        finally:
            runtime.draining = True
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            await batcher.stop()  # answers everything already queued
            await asyncio.to_thread(writer.stop)  # writes every row held in memory
            engine.dispose()
            log.info("stopped: %d log rows written, %d dropped", writer.stats.written, writer.stats.dropped)

    app = FastAPI(
        title="Sentiment service",
        version="1.0.0",
        summary="Embedding + BiLSTM sentiment predictions with micro-batching and a SQL request log.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(oip_router)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=runtime.metrics,
        max_body_bytes=runtime.settings.max_body_bytes,
        fast_paths={"/v1/sentiment": partial(fast_predict_one, runtime)},
    )
    return app


async def _reload_on_signal(runtime: Runtime) -> None:
    try:
        result = await reload(runtime)
        log.info("SIGHUP reload: %s -> %s", result.previous_version, result.version)
    except Exception as exc:  # noqa: BLE001 - a bad artifact on SIGHUP keeps the old model
        log.error("SIGHUP reload failed: %s", exc)
