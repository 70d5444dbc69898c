"""Generated input from the service's own OpenAPI schema: no 5xx, every response matches it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.e2e.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.conftest import make_artifact

    root = tmp_path_factory.mktemp("fuzz")
    artifact = make_artifact(root / "artifact")
    server = ServerProcess.start(root / "requests.db", {"SENTIMENT_MODEL_DIR": str(artifact),
                                                       "SENTIMENT_MAX_TEXT_CHARS": "2000"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(served: ServerProcess):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
CASES = {"count": 0}


@schema.parametrize()
@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_never_give_5xx(case, served: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    CASES["count"] += 1
    response = case.call(headers={"X-API-Key": ADMIN}, timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    case.validate_response(response)
