"""Resident memory over hot reloads, through the path `POST /v1/admin/reload` takes.

    python bench/reload_memory.py [--model DIR] [--reloads 100] [--predictions 200]

Builds the app in process (SQLite log in a temporary folder, the shipped model unless --model),
sends a few predictions, then reloads the model N times with `POST /v1/admin/reload` and a
prediction after each. Prints RSS (from /proc/self/status, Linux) at start, after the first
reload, and every tenth, and the growth from the first reload to the last.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import rss_mb  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--reloads", type=int, default=100, help="hot reloads to run")
    parser.add_argument("--predictions", type=int, default=200, help="predictions before the first reload")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    admin = "bench-admin-key"
    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, object] = {"database_url": f"sqlite:///{tmp}/log.db", "admin_keys": [admin]}
        if args.model:
            values["model_dir"] = args.model
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        with TestClient(create_app(settings)) as client:
            headers = {"X-API-Key": admin}
            for i in range(args.predictions):
                client.post("/v1/sentiment", json={"text": f"A wonderful film, number {i}."}, headers=headers)
            print(f"after {args.predictions} predictions: {rss_mb():7.1f} MB")
            first = 0.0
            for n in range(1, args.reloads + 1):
                response = client.post("/v1/admin/reload", headers=headers)
                assert response.status_code == 200, response.text
                client.post("/v1/sentiment", json={"text": "Dull and far too long."}, headers=headers)
                if n == 1:
                    first = rss_mb()
                if n == 1 or n % 10 == 0 or n == args.reloads:
                    print(f"after {n:4d} reloads:    {rss_mb():7.1f} MB")
            last = rss_mb()
    print(f"growth from reload 1 to {args.reloads}: {last - first:+.1f} MB ({(last / first - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
