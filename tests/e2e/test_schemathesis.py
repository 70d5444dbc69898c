"""Generated input from the service's own OpenAPI schema: no 5xx, every response matches it.

Schemathesis builds the requests from `/openapi.json`; hypothesis drives them (schemathesis'
pytest plugin does not run under pytest 9, so the strategies are used directly).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.conftest import make_artifact
from tests.e2e.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 200


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    artifact = make_artifact(root / "artifact")
    env = {"SENTIMENT_MODEL_DIR": str(artifact), "SENTIMENT_MAX_TEXT_CHARS": "2000"}
    server = ServerProcess.start(root / "requests.db", env)
    yield server
    server.stop()


def make_check(operation, name: str, counts: dict[str, int], mode: GenerationMode):  # type: ignore[no-untyped-def]
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        counts[name] += 1
        response = case.call(headers={"X-API-Key": ADMIN}, timeout=30)
        assert response.status_code < 500, (name, response.status_code, response.text[:300])
        # Blank texts, NUL and over-long texts are schema-valid strings that the service answers
        # with a documented 4xx (422/413): that is the contract, so "positive data acceptance" is off.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    return check


def test_generated_requests_never_give_5xx_and_match_the_schema(served: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    counts: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):  # valid and schema-violating input
            name = f"{operation.method.upper()} {operation.path} {mode.value}"
            counts[name] = 0
            try:
                make_check(operation, name, counts, mode)()
            except Unsatisfiable:  # nothing to violate: the operation takes no input
                assert mode is GenerationMode.NEGATIVE
                del counts[name]
    print(f"\nschemathesis: {sum(counts.values())} generated requests: {counts}")
    assert sum(counts.values()) >= 1000
