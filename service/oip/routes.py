"""The Open Inference Protocol routes: health, metadata and `infer` over the v1 batcher, keys and log.

Errors keep the v1 status codes and codes, but the body has the protocol's shape, `{"error":
message}`, which KServe and Triton clients read, plus `code` and `request_id`; `X-Request-ID` is
returned as on every route.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.routing import Match

from service import jsonbody
from service.deps import ClientDep, ServiceDep
from service.errors import InferenceFailed, ModelNotFound, ServiceError, TooLarge
from service.log.recorder import Item, RequestFacts
from service.oip.schemas import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    V2Error,
)
from service.oip.tensors import HEADER_LENGTH, InvalidTensor, encode_bytes, encode_fp32, flag, input_texts, split_body
from service.prediction import check_text, predict, readiness
from service.served import ServedModel
from service.state import ServiceState

INPUT = "text"
# Every output by default (the protocol's rule when a request names none); `probabilities` is
# [N, number of labels] in the labels' order, named in its `labels` parameter.
OUTPUTS = ("label", "score", "probabilities", "polarity")


class InvalidJSON(ServiceError):
    status, code = 400, "invalid_json"


class InvalidRequest(ServiceError):
    status, code = 422, "invalid_request"


class RouteNotFound(ServiceError):
    status, code = 404, "not_found"


class MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"


class _V2Route(APIRoute):
    """Answer errors in the protocol's shape, built from the app's own v1 error handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_v2(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:  # noqa: BLE001 - every error gets the same handler as on v1
                return await _v2_error(request, exc)

        return handle_v2


async def _v2_error(request: Request, exc: Exception) -> Response:
    handlers = request.app.exception_handlers
    handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), handlers[Exception])
    v1: Response = await handler(request, exc)
    detail = orjson.loads(bytes(v1.body))["error"]
    body = V2Error(error=detail["message"], code=detail["code"], request_id=detail["request_id"])
    headers = {k: v for k, v in v1.headers.items() if k not in ("content-length", "content-type")}
    return JSONResponse(body.model_dump(), v1.status_code, headers)


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": V2Error} for s in (400, 401, 403, 404, 413, 422, 503)}
router = APIRouter(route_class=_V2Route, tags=["open inference protocol"], responses=ERRORS)


def _check_model(service: ServiceState, name: str, version: str | None) -> ServedModel:
    """The served model `name` (its v1 name); a version, when given, must be the one it serves."""
    served = service.model(name)
    serving = served.predictor.version
    if version is not None and version != serving:
        raise ModelNotFound(f"model {name!r} has no version {version!r}; it serves version {serving!r}")
    return served


@router.get("/v2", response_model=ServerMetadata)
async def server_metadata() -> ServerMetadata:
    """Server metadata: name, version and the protocol extensions supported."""
    return ServerMetadata(name="sentiment-service", version="1.0.0", extensions=["binary_tensor_data"])


@router.get("/v2/health/live", response_model=ServerLive)
async def server_live() -> ServerLive:
    """200 while the process lives."""
    return ServerLive(live=True)


@router.get("/v2/health/ready", response_model=ServerReady, responses={503: {"model": ServerReady}})
async def server_ready(service: ServiceDep) -> JSONResponse:
    """200 when `/readyz` is (model loaded, log writer running), else 503."""
    ready, _ = readiness(service)
    return JSONResponse(ServerReady(ready=ready).model_dump(), 200 if ready else 503)


@router.get("/v2/models/{name}/ready", response_model=ModelReady, responses={503: {"model": ModelReady}})
async def model_ready(service: ServiceDep, name: str) -> JSONResponse:
    """200 when the named model is loaded and predictions can be answered, else 503."""
    return await _model_ready(service, name, None)


@router.get("/v2/models/{name}/versions/{version}/ready", include_in_schema=False)
async def model_version_ready(service: ServiceDep, name: str, version: str) -> JSONResponse:
    return await _model_ready(service, name, version)


async def _model_ready(service: ServiceState, name: str, version: str | None) -> JSONResponse:
    if not service.models:
        return JSONResponse(ModelReady(name=name, ready=False).model_dump(), 503)
    _check_model(service, name, version)
    ready, _ = readiness(service)
    return JSONResponse(ModelReady(name=name, ready=ready).model_dump(), 200 if ready else 503)


@router.get("/v2/models/{name}", response_model=ModelMetadata)
async def model_metadata(service: ServiceDep, client: ClientDep, name: str) -> ModelMetadata:
    """The model's input (texts) and outputs (label, score, probabilities in the labels' order, polarity)."""
    return _model_metadata(service, name, None)


@router.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, include_in_schema=False)
async def model_version_metadata(service: ServiceDep, client: ClientDep, name: str, version: str) -> ModelMetadata:
    return _model_metadata(service, name, version)


def _model_metadata(service: ServiceState, name: str, version: str | None) -> ModelMetadata:
    predictor = _check_model(service, name, version).predictor
    return ModelMetadata(
        name=name,
        versions=[predictor.version],
        platform="onnxruntime_onnx" if predictor.runtime == "onnx" else "pytorch",
        inputs=[MetadataTensor(name=INPUT, datatype="BYTES", shape=[-1])],
        outputs=[
            MetadataTensor(name="label", datatype="BYTES", shape=[-1]),
            MetadataTensor(name="score", datatype="FP32", shape=[-1]),
            MetadataTensor(name="probabilities", datatype="FP32", shape=[-1, len(predictor.labels)]),
            MetadataTensor(name="polarity", datatype="FP32", shape=[-1]),
        ],
    )


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `$defs` references replaced by the definitions (for openapi_extra)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(InferenceRequest.model_json_schema())}},
    }
}
BINARY_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
}


@router.post(
    "/v2/models/{name}/infer", response_model=InferenceResponse, openapi_extra=INFER_BODY, responses=BINARY_ANSWER
)
async def infer(service: ServiceDep, client: ClientDep, request: Request, name: str) -> Response:
    """Classify the texts of the BYTES input `text`; outputs `label`, `score`, `probabilities` and `polarity`
    (signed strength in [-1, 1], as v1's `polarity`).

    Accepts JSON tensor data and the binary tensor data extension (`Inference-Header-Content-Length`).
    """
    return await _infer(service, client, request, name, None)


@router.post("/v2/models/{name}/versions/{version}/infer", include_in_schema=False)
async def infer_version(service: ServiceDep, client: ClientDep, request: Request, name: str, version: str) -> Response:
    return await _infer(service, client, request, name, version)


async def _infer(
    service: ServiceState, client: str | None, request: Request, name: str, version: str | None
) -> Response:
    served = _check_model(service, name, version)
    header, binary = split_body(await request.body(), request.headers.get(HEADER_LENGTH))
    try:
        body = InferenceRequest.model_validate(jsonbody.loads(header))
    except json.JSONDecodeError as exc:
        raise InvalidJSON(jsonbody.message(exc, "the body (or its JSON header)")) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}") from None
    texts = _texts(service, body, binary)
    wanted = _wanted(body)  # refused before any work, as a bad text is
    request_id = request.state.request_id
    if version is None:  # a request for one version gets that one; otherwise the canary share may answer
        served = service.route(name, client or request_id)
    outcomes = await predict(service, served, texts)
    labels = list(outcomes[0].prediction.probabilities)
    if any(list(o.prediction.probabilities) != labels for o in outcomes):
        raise InferenceFailed("the model was reloaded with other labels during this request; send it again")
    facts = RequestFacts(request_id, "v2/infer", client, served.name, request.state.started, role=served.role)
    await service.recorder.record(facts, [Item(t, o) for t, o in zip(texts, outcomes, strict=True)])
    values: dict[str, tuple[str, list[int], Any]] = {
        "label": ("BYTES", [len(texts)], [o.prediction.label for o in outcomes]),
        "score": ("FP32", [len(texts)], [o.prediction.score for o in outcomes]),
        "probabilities": (
            "FP32",
            [len(texts), len(labels)],
            [[o.prediction.probabilities[label] for label in labels] for o in outcomes],
        ),
        "polarity": ("FP32", [len(texts)], [o.prediction.polarity for o in outcomes]),
    }
    return _answer(body, wanted, request_id, outcomes[0].model_version, name, labels, values)


def _texts(service: ServiceState, body: InferenceRequest, binary: bytes) -> list[str]:
    """The texts of the request's one input, each checked as v1 checks a text."""
    if [i.name for i in body.inputs] != [INPUT]:
        raise InvalidTensor(f"this model takes one BYTES input named {INPUT!r}, not {[i.name for i in body.inputs]}")
    texts, used = input_texts(body.inputs[0], binary, 0)
    if used != len(binary):
        raise InvalidTensor(f"{len(binary) - used} bytes of binary data follow the tensors")
    settings = service.settings
    if not texts:
        raise InvalidTensor("the input has no texts; send at least one")
    if len(texts) > settings.max_batch_items:
        raise TooLarge(f"{len(texts)} texts; the limit is {settings.max_batch_items} per request")
    for i, text in enumerate(texts):
        problem = check_text(text, settings.max_text_chars)
        if problem is not None:
            problem.message = f"text {i}: {problem.message}"
            raise problem
    return texts


def _wanted(body: InferenceRequest) -> list[tuple[str, bool]]:
    """The outputs asked for (all by default), each with whether it goes back as binary data."""
    binary_default = flag(body.parameters, "binary_data_output", "request")
    if body.outputs is None:
        return [(n, binary_default) for n in OUTPUTS]
    names = [o.name for o in body.outputs]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise InvalidTensor(f"unknown output {unknown[0]!r}; this model outputs {list(OUTPUTS)}")
    repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if repeated is not None:  # each output once: the answer stays at most len(OUTPUTS) outputs
        raise InvalidTensor(f"output {repeated!r} is asked for more than once")
    return [(o.name, flag(o.parameters, "binary_data", f"output {o.name!r}", binary_default)) for o in body.outputs]


def _answer(
    body: InferenceRequest,
    wanted: list[tuple[str, bool]],
    request_id: str,
    version: str,
    name: str,
    labels: list[str],
    values: dict[str, tuple[str, list[int], Any]],
) -> Response:
    """The response: the outputs `wanted`, JSON or binary as each asks."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for output_name, binary in wanted:
        datatype, shape, data = values[output_name]
        entry: dict[str, Any] = {"name": output_name, "datatype": datatype, "shape": shape}
        extra = {"labels": ",".join(labels)} if output_name == "probabilities" else {}
        if binary:
            blob = encode_bytes(data) if datatype == "BYTES" else encode_fp32(data)
            blobs.append(blob)
            entry["parameters"] = {**extra, "binary_data_size": len(blob)}
        else:
            if extra:
                entry["parameters"] = extra
            entry["data"] = [x for row in data for x in row] if len(shape) == 2 else data
        outputs.append(entry)
    document = {"model_name": name, "model_version": version, "id": body.id or request_id, "outputs": outputs}
    header = orjson.dumps(document)
    if not blobs:
        return Response(header, media_type="application/json")
    return Response(
        b"".join([header, *blobs]),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


@router.api_route(
    "/v2/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False
)
async def not_found(request: Request, path: str) -> Response:
    """Any other path or method under /v2: a 404 (or 405 for a known path) in the protocol's error shape."""
    allowed = sorted(
        method
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.endpoint is not not_found
        and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods or ()
    )
    if allowed:
        raise MethodNotAllowed(
            f"/v2/{path} takes {', '.join(allowed)}, not {request.method}", headers={"Allow": ", ".join(allowed)}
        )
    raise RouteNotFound(f"no route /v2/{path} in the Open Inference Protocol")
