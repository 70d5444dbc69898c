"""Client fixtures: a real `python -m service` process with small limits and an API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_artifact
from tests.e2e.conftest import ServerProcess

USER = "client-user-key-1"
MAX_BATCH_ITEMS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("client")
    env = {
        "SENTIMENT_MODEL_DIR": str(make_artifact(root / "artifact")),
        "SENTIMENT_API_KEYS": USER,
        "SENTIMENT_MAX_BATCH_ITEMS": str(MAX_BATCH_ITEMS),
        "SENTIMENT_MAX_TEXT_CHARS": "2000",
        "SENTIMENT_LOG_FLUSH_MS": "10",
    }
    process = ServerProcess.start(root / "requests.db", env)
    yield process
    process.stop()
