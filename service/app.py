"""The app factory and its lifespan: load the model, open the log, start and stop the workers."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine

from model import Predictor, language
from service.batcher import MicroBatcher
from service.candidate.routes import router as candidate_router
from service.config import Settings
from service.console import web_router
from service.errors import install_error_handlers
from service.log import RequestLogWriter, open_database
from service.middleware import RequestContextMiddleware, RouteLabels, route_paths
from service.monitoring import router as monitoring_router
from service.oip import router as oip_router
from service.openapi import install_openapi
from service.rollout import follow_rollouts, initial_model, reload
from service.routes import fast_predict_one, router
from service.served import ServedModel
from service.state import ServiceState

log = logging.getLogger("service")


def create_app(
    settings: Settings | None = None,
    *,
    predictors: dict[str, Predictor] | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts.

    `predictors` (by model name) and `engine`, when given, are used at start instead of loading the
    configured artifacts and opening the log database again (`python -m service` opens both first, so
    that a bad artifact or an unreachable database stops it before the port is bound).
    """
    service = ServiceState(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = service.settings
        loaded = dict(predictors or {})
        for name, model_dir in s.served_models().items():
            if name not in loaded:
                loaded[name] = await asyncio.to_thread(service.load_predictor, model_dir)
            p = loaded[name]
            log.info(
                "model %s: %s loaded from %s (runtime %s, precision %s)",
                name,
                p.version,
                p.artifact.path.resolve(),
                p.runtime,
                p.precision_note,
            )
        if any(p.artifact.config.language is not None for p in loaded.values()):
            await asyncio.to_thread(language.warm)  # texts will be routed by language: its model now, not on the first
        log_engine = engine
        if log_engine is None:
            log_engine = await asyncio.to_thread(
                open_database,
                s.database_url,
                durable=s.log_mode == "durable",
                max_mb=s.log_max_mb,
                migrate=s.migrate_on_start,
                wait_s=s.database_wait_s,
                partition=s.log_partitions,
            )
        service.engine = log_engine
        m = service.metrics
        writer = RequestLogWriter(
            log_engine,
            flush_s=s.log_flush_ms / 1000,
            max_pending=s.log_max_pending,
            on_written=m.log_written.inc,
            on_dropped=m.log_dropped.inc,
        )
        writer.start()
        service.writer = writer
        for name, model_dir in s.served_models().items():  # each model its own batcher and bounded queue
            batcher = MicroBatcher(
                loaded.pop(name),
                max_batch_size=s.max_batch_size,
                max_queue=s.max_queue,
                on_batch=service.on_batch,
                max_explain_tokens=s.max_explain_tokens,
                explain_pass_tokens=s.explain_pass_tokens,
            )
            served = ServedModel(name, model_dir, batcher)
            # a replica that starts later serves each model's newest rollout
            batcher.predictor = await initial_model(service, served, batcher.predictor)
            batcher.start()
            service.models[name] = served
            service.announce_model(served)
        follower = asyncio.create_task(follow_rollouts(service)) if s.rollout_poll_s > 0 else None
        await service.candidates.start()  # each model's shadow / canary candidate, the shadow lane, their poller
        loop = asyncio.get_running_loop()
        with suppress(NotImplementedError, RuntimeError, ValueError):  # not on Windows / not main thread
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload_on_signal(service)))
        try:
            yield
        finally:
            service.draining = True
            if follower is not None:
                follower.cancel()
                with suppress(asyncio.CancelledError):
                    await follower
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            await service.candidates.stop()  # shadow texts still waiting are dropped: nobody waits on them
            for served in service.models.values():
                await served.batcher.stop()  # answers everything already queued
            await asyncio.to_thread(writer.stop)  # writes every row held in memory
            log_engine.dispose()
            log.info("stopped: %d log rows written, %d dropped", writer.stats.written, writer.stats.dropped)

    app = FastAPI(
        title="Sentiment service",
        version="1.0.0",
        summary="Embedding + BiLSTM sentiment predictions with micro-batching and a SQL request log.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by web_router: FastAPI's own /docs needs a CDN
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(monitoring_router)
    app.include_router(candidate_router)
    app.include_router(web_router(service.settings, title=app.title))
    app.include_router(oip_router)
    install_openapi(app, service)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=service.metrics,
        max_body_bytes=service.settings.max_body_bytes,
        fast_paths={"/v1/sentiment": partial(fast_predict_one, service)},
        route_label=RouteLabels(route_paths(app.routes)),
    )
    return app


async def _reload_on_signal(service: ServiceState) -> None:
    """SIGHUP: reload every served model from its configured artifact, one after the other."""
    for name in list(service.models):
        try:
            result = await reload(service, model=name)
            log.info("SIGHUP reload of %s: %s -> %s", name, result.previous_version, result.version)
        except Exception as exc:  # noqa: BLE001 - a bad artifact on SIGHUP keeps that model's old one
            log.error("SIGHUP reload of %s failed: %s", name, exc)
