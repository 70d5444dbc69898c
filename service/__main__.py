"""`python -m service [--host H] [--port P]`: run the API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from pydantic import ValidationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Serve sentiment predictions over HTTP.")
    parser.add_argument("--host", help="address to bind (default: SENTIMENT_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: SENTIMENT_PORT or 8000)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="server log level"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="print one line per request (the SQL log has them all)"
    )
    args = parser.parse_args(argv)

    from service.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "SENTIMENT_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"error: {name}: {error['msg']} (got {error.get('input')!r})", file=sys.stderr)
        return 2

    import uvicorn

    from model import ArtifactError
    from service.app import create_app
    from service.runtime import load_configured_predictor

    try:  # fail before binding the port, with the file and the problem; the app serves this load
        predictor = load_configured_predictor(settings)
    except ArtifactError as exc:
        print(f"error: cannot load the model: {exc}", file=sys.stderr)
        return 2
    # uvicorn drains on SIGTERM, then raises the signal again for the handler it found; a no-op
    # handler here turns that into a normal exit (status 0) once the drain has finished.
    signal.signal(signal.SIGTERM, lambda *_: None)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings, predictor=predictor),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=30,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
