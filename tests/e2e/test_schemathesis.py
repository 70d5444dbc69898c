"""Generated input from the service's own OpenAPI schema: every check, valid and invalid data.

Schemathesis builds the requests from `/openapi.json` (and, for the console's pages, from a schema
of those routes, which `/openapi.json` leaves out); hypothesis drives them (schemathesis' pytest
plugin does not run under pytest 9, so the strategies are used directly). All of schemathesis'
checks run: no 5xx, responses as documented, valid data accepted, invalid data refused.

A few rules span two fields or a server's state, which OpenAPI cannot state; valid cases are
repaired to keep them (`repaired`), each named there: they are the contract too, documented in
the README, not exceptions to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from service.config import Settings
from service.console import web_router
from tests.conftest import make_artifact
from tests.e2e.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 100
# 413 is the answer for a text, batch or body over its limit (a maxLength / maxItems violation).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "413", "422"]}}}
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    artifact = make_artifact(root / "artifact")
    env = {"SENTIMENT_MODEL_DIR": str(artifact), "SENTIMENT_MAX_TEXT_CHARS": "2000"}
    server = ServerProcess.start(root / "requests.db", env)
    yield server
    server.stop()


def _instant(value: Any) -> datetime | None:
    """The UTC instant of a generated time, None when it is absent or outside the years 1-9999."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def repaired(case: Any) -> Any:
    """Keep the rules of a valid request that OpenAPI cannot state."""
    query = case.query or {}
    for name in ("since", "until"):  # an instant in the years 1-9999 UTC (an offset can leave them)
        if name in query and _instant(query[name]) is None:
            del query[name]
    if case.path == "/v1/stats":
        # since < until, at most 400 days apart (until defaults to now, since to until - window);
        # the reference window before them must also start after the year 1.
        now = datetime.now(UTC)
        until = _instant(query.get("until"))
        if until is not None and until < datetime(2, 1, 1, tzinfo=UTC):
            del query["until"]
            until = None
        end = until or now
        since = _instant(query.get("since"))
        if since is not None and not (end - timedelta(days=400) <= since < end and since.year > 1):
            del query["since"]
        reference = query.get("reference")
        start = _instant(query.get("since")) or end - timedelta(days=30)
        if reference is not None and reference != "previous":
            ref = _instant(reference)
            if ref is None or not ref < start:
                query["reference"] = "previous"
    if case.path == "/v1/admin/reload" and isinstance(case.body, dict):
        case.body.pop("model_dir", None)  # a directory that holds an artifact: a fact of the server
    if case.path.endswith("/infer") and isinstance(case.body, dict):
        for tensor in case.body.get("inputs", []):  # shape [N] or [N, 1] with N the texts sent
            if isinstance(tensor, dict):
                data = tensor.get("data")
                if not isinstance(data, list) or not data:
                    tensor["data"] = data = ["good"]
                tensor["shape"] = [len(data)] if len(tensor.get("shape", [])) != 2 else [len(data), 1]
                if isinstance(tensor.get("parameters"), dict):
                    tensor["parameters"].pop("binary_data_size", None)
        for holder, key in ((case.body, "parameters"),):  # flags are JSON booleans
            if isinstance(holder.get(key), dict):
                holder[key].pop("binary_data_output", None)
        outputs = case.body.get("outputs")
        if isinstance(outputs, list):  # each output name once (uniqueItems compares whole objects)
            named = {o.get("name"): o for o in reversed(outputs) if isinstance(o, dict)}
            case.body["outputs"] = list(reversed(named.values()))
            for output in case.body["outputs"]:
                if isinstance(output.get("parameters"), dict):
                    output["parameters"].pop("binary_data", None)
    return case


def make_check(operation, name: str, counts: dict[str, int], mode: GenerationMode):  # type: ignore[no-untyped-def]
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(repaired)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=strategy)
    def check(case) -> None:  # type: ignore[no-untyped-def]
        counts[name] += 1
        response = case.call(headers={"X-API-Key": ADMIN}, timeout=30)
        assert response.status_code < 500, (name, response.status_code, response.text[:300])
        case.validate_response(response)  # every check, positive_data_acceptance included

    return check


def run_all(schema: Any) -> dict[str, int]:
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
    return counts


def test_generated_requests_pass_every_check(served: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json", config=CONFIG)
    counts = run_all(schema)
    print(f"\nschemathesis: {sum(counts.values())} generated requests: {counts}")
    assert sum(counts.values()) >= 1000
    assert any("/v2/models/{name}/infer" in name for name in counts)  # OIP included


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        else:  # an included router
            yield from api_routes(route.original_router.routes)


def test_generated_requests_to_the_console_pass_every_check(served: ServerProcess) -> None:
    # The console's routes are left out of /openapi.json (they are pages, not API): a schema of
    # them alone, built the way FastAPI builds the API's.
    routes = list(api_routes(web_router(Settings(_env_file=None), title="console").routes))  # type: ignore[call-arg]
    for route in routes:
        route.include_in_schema = True
    document = get_openapi(title="console", version="1", routes=routes)
    assert {"/console", "/console/static/{name}", "/docs"} <= document.keys() | set(document["paths"])
    for path in document["paths"].values():  # pages answer HTML; assets their own type
        for operation in path.values():
            operation["responses"] = {"200": {"description": "page or asset"}, "404": {"description": "no such asset"}}
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    schema.config.base_url = served.url  # type: ignore[misc]
    counts = run_all(schema)
    print(f"\nschemathesis (console): {sum(counts.values())} generated requests: {counts}")
    assert sum(counts.values()) >= 100
