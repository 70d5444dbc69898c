"""The client package stands alone: httpx is its one dependency, and it imports no server code."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"
SERVER_SIDE = ("torch", "fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "onnxruntime", "numpy")


def test_importing_the_client_loads_no_server_code(tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "import sentiment_client\n"
        "from sentiment_client import SentimentClient, AsyncSentimentClient\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    # -I: isolated (no user site, no PYTHONPATH from the caller); the client's folder is the only extra path
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(CLIENT)!r})\n{probe}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(run.stdout))
    assert "httpx" in loaded and "sentiment_client" in loaded
    assert loaded.isdisjoint({*SERVER_SIDE, "service", "model", "training"}), loaded & {*SERVER_SIDE, "service"}


def test_its_only_dependency_is_httpx() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "sentiment-client"
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["httpx"]


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    from email.utils import format_datetime

    from sentiment_client.errors import parse_retry_after

    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30
    assert parse_retry_after(format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)) == 0.0
