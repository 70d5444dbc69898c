"""SENTIMENT_WORKERS > 1: uvicorn's process manager runs that many workers on one port.

Each worker is a separate process that builds its own app (`service.app:create_app`, imported by
name in the worker), so it has its own model, batcher and log writer; the kernel spreads the
connections over them. The parent opens and migrates the log database once before any worker starts (`python -m
service`), then supervises: a worker that dies is replaced, SIGTERM
drains every worker (each writes the log rows it holds) and exits 0, SIGHUP is handed to every
worker as a hot reload (uvicorn's own SIGHUP would restart them), SIGTTIN / SIGTTOU add or remove one.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors.multiprocess import Multiprocess

from service.config import Settings

log = logging.getLogger("service")


class WorkerSupervisor(Multiprocess):
    def handle_hup(self) -> None:
        """Hand SIGHUP to every worker: each reloads its model in place (no restart, no lost request)."""
        log.info("SIGHUP: reloading the model in %d workers", len(self.processes))
        for worker in self.processes:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGHUP)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the service's own loggers with the worker's pid on each line."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {"format": "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"}
    config["handlers"]["service"] = {
        "formatter": "service",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["service"] = {"handlers": ["service"], "level": level.upper(), "propagate": False}
    return config


def run_workers(settings: Settings, log_level: str, server: dict[str, Any]) -> int:
    """Bind the port, run and supervise the workers until SIGTERM (the caller migrated the schema)."""
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        workers=settings.workers,
        log_config=log_config(log_level),
        **server,
    )
    log.info("starting %d workers on %s:%s", settings.workers, config.host, config.port)
    WorkerSupervisor(config, sockets=[config.bind_socket()]).run()
    return 0
