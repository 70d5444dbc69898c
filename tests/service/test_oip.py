"""The Open Inference Protocol (KServe v2 REST) routes, in process: shapes, binary data, errors, auth, log."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import USER, admin_rows

INFER = "/v2/models/sentiment/infer"
TEXTS = ["good movie", "awful plot !", "the plot was fine"]

# The inference request and response examples published with the protocol
# (kserve/open-inference-protocol, specification/protocol/inference_rest.md, "Inference Request Examples").
SPEC_REQUEST: dict[str, Any] = {
    "id": "42",
    "inputs": [
        {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
        {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]},
    ],
    "outputs": [{"name": "output0"}],
}
SPEC_RESPONSE: dict[str, Any] = {
    "id": "42",
    "outputs": [{"name": "output0", "shape": [3, 2], "datatype": "FP32", "data": [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]}],
}


def text_input(texts: list[Any], **extra: Any) -> dict[str, Any]:
    return {"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts, **extra}


def v1_results(client: TestClient, texts: list[str]) -> list[dict[str, Any]]:
    return client.post("/v1/sentiment/batch", json={"texts": texts}).json()["results"]  # type: ignore[no-any-return]


def test_spec_example_shape_with_this_models_tensors(client: TestClient) -> None:
    """The published example, with this model's input and output names, answers in the published shape."""
    request = {"id": "42", "inputs": [text_input(TEXTS[:2])], "outputs": [{"name": "probabilities"}]}
    response = client.post(INFER, json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() == {"model_name", "model_version", "id", "outputs"}
    assert body["id"] == SPEC_RESPONSE["id"] and body["model_name"] == "sentiment"
    (output,) = body["outputs"]
    assert output.keys() >= SPEC_RESPONSE["outputs"][0].keys()
    assert (output["name"], output["datatype"], output["shape"]) == ("probabilities", "FP32", [2, 2])
    assert len(output["data"]) == 4 and output["parameters"] == {"labels": "negative,positive"}
    expected = [p for r in v1_results(client, TEXTS[:2]) for p in r["probabilities"].values()]
    assert output["data"] == pytest.approx(expected, abs=1e-6)


def test_spec_example_request_is_refused_in_the_protocols_error_shape(client: TestClient) -> None:
    response = client.post(INFER, json=SPEC_REQUEST, headers={"X-Request-ID": "spec-example-1"})
    assert response.status_code == 422
    assert response.json() == {
        "error": "this model takes one BYTES input named 'text', not ['input0', 'input1']",
        "code": "invalid_tensor",
        "request_id": "spec-example-1",
    }
    assert response.headers["x-request-id"] == "spec-example-1"


def test_all_outputs_by_default_match_v1(client: TestClient) -> None:
    response = client.post(INFER, json={"inputs": [text_input(TEXTS)]}, headers={"X-Request-ID": "oip-all-1"})
    body = response.json()
    assert body["id"] == "oip-all-1"  # no id in the request: the request id
    outputs = {o["name"]: o for o in body["outputs"]}
    assert list(outputs) == ["label", "score", "probabilities", "polarity"]
    v1 = v1_results(client, TEXTS)
    assert outputs["label"] == {"name": "label", "datatype": "BYTES", "shape": [3], "data": [r["label"] for r in v1]}
    assert outputs["score"]["shape"] == [3] and outputs["score"]["datatype"] == "FP32"
    assert outputs["score"]["data"] == pytest.approx([r["score"] for r in v1], abs=1e-6)
    assert outputs["probabilities"]["shape"] == [3, 2]
    assert outputs["polarity"]["shape"] == [3] and outputs["polarity"]["datatype"] == "FP32"
    assert outputs["polarity"]["data"] == pytest.approx([r["polarity"] for r in v1], abs=1e-6)
    assert body["model_version"] == client.get("/v1/model").json()["version"]


def test_nested_data_and_the_served_version_route(client: TestClient) -> None:
    version = client.get("/v1/model").json()["version"]
    nested = {"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["good movie"], ["awful plot !"]]}
    response = client.post(f"/v2/models/sentiment/versions/{version}/infer", json={"inputs": [nested]})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [r["label"] for r in v1_results(client, TEXTS[:2])]
    assert client.get(f"/v2/models/sentiment/versions/{version}").status_code == 200
    assert client.get(f"/v2/models/sentiment/versions/{version}/ready").json() == {"name": "sentiment", "ready": True}
    other = client.post("/v2/models/sentiment/versions/000000000000/infer", json={"inputs": [nested]})
    assert other.status_code == 404 and other.json()["code"] == "model_not_found"


def binary_bytes(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def test_binary_tensor_data_in_and_out(client: TestClient) -> None:
    blob = binary_bytes(TEXTS)
    header = json.dumps(
        {
            "inputs": [
                {"name": "text", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(blob)}}
            ],
            "outputs": [{"name": "label", "parameters": {"binary_data": True}}, {"name": "probabilities"}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    response = client.post(INFER, content=header + blob, headers={"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    size = int(response.headers["inference-header-content-length"])
    document = json.loads(response.content[:size])
    label, probabilities = document["outputs"]
    raw = response.content[size:]
    assert len(raw) == label["parameters"]["binary_data_size"] + probabilities["parameters"]["binary_data_size"]
    labels_blob, probabilities_blob = raw[: label["parameters"]["binary_data_size"]], raw[len(raw) - 24 :]
    v1 = v1_results(client, TEXTS)
    assert labels_blob == binary_bytes([r["label"] for r in v1])
    decoded = np.frombuffer(probabilities_blob, dtype="<f4").reshape(probabilities["shape"])
    assert decoded == pytest.approx(np.array([list(r["probabilities"].values()) for r in v1]), abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"inputs": [text_input([1, 2])]}, 422, "invalid_tensor", "BYTES data must be JSON strings"),
        ({"inputs": [{**text_input(TEXTS), "datatype": "FP32"}]}, 422, "invalid_tensor", "datatype must be BYTES"),
        ({"inputs": [{**text_input(TEXTS), "shape": [2]}]}, 422, "invalid_tensor", "does not match its 3 elements"),
        (
            {"inputs": [{**text_input(TEXTS[:2]), "shape": [1, 2]}]},
            422,
            "invalid_tensor",
            "shape must be [N] or [N, 1]",
        ),
        ({"inputs": [text_input(["good", "  "])]}, 422, "invalid_text", "text 1: text is empty"),
        ({"inputs": [text_input(["good", "x" * 3000])]}, 413, "text_too_long", "text 1: text has 3000 characters"),
        ({"inputs": [text_input(["good"] * 9)]}, 413, "too_large", "9 texts; the limit is 8"),
        ({"inputs": [text_input([])]}, 422, "invalid_tensor", "no texts"),
        ({"inputs": []}, 422, "invalid_tensor", "one BYTES input named 'text'"),
        ({"texts": ["good"]}, 422, "invalid_request", "inputs: Field required"),
        ({"inputs": [text_input(TEXTS)], "outputs": [{"name": "logits"}]}, 422, "invalid_tensor", "unknown output"),
        # Issue 19 item 12: what the protocol does not allow is refused, not guessed at.
        (
            {"inputs": [text_input(TEXTS)], "parameters": {"binary_data_output": "false"}},
            422,
            "invalid_tensor",
            "'binary_data_output' must be true or false, not 'false'",
        ),
        (
            {"inputs": [text_input(TEXTS)], "outputs": [{"name": "label", "parameters": {"binary_data": 1}}]},
            422,
            "invalid_tensor",
            "'binary_data' must be true or false",
        ),
        ({"inputs": [{**text_input(TEXTS), "shape": [3.0]}]}, 422, "invalid_request", "inputs.0.shape.0"),
        ({"inputs": [{**text_input(TEXTS), "shape": ["3"]}]}, 422, "invalid_request", "inputs.0.shape.0"),
        ({"inputs": [{**text_input(TEXTS), "shape": [True]}]}, 422, "invalid_request", "inputs.0.shape.0"),
        (
            {"inputs": [{**text_input([["good"], ["bad", "plot"]]), "shape": [2, 1]}]},
            422,
            "invalid_tensor",
            "does not nest as its shape [2, 1]",
        ),
        (
            {"inputs": [{**text_input([["good"], "bad"]), "shape": [2, 1]}]},
            422,
            "invalid_tensor",
            "does not nest as its shape",
        ),
        (
            {"inputs": [{**text_input([json.loads("[" * 50 + '"deep"' + "]" * 50)]), "shape": [1]}]},
            422,
            "invalid_tensor",
            "nested deeper than its shape [1]",
        ),
        (
            {"inputs": [text_input(TEXTS)], "outputs": [{"name": "label"}, {"name": "label"}]},
            422,
            "invalid_tensor",
            "output 'label' is asked for more than once",
        ),
    ],
)
def test_infer_errors(
    settings_for: Callable[..., Settings], body: dict[str, Any], status: int, code: str, message: str
) -> None:
    with TestClient(create_app(settings_for(max_batch_items=8, max_text_chars=2000))) as client:
        response = client.post(INFER, json=body)
        assert response.status_code == status, response.text
        error = response.json()
        assert isinstance(error["error"], str) and message in error["error"]
        assert error["code"] == code and error["request_id"] == response.headers["x-request-id"]
        assert admin_rows(client) == []  # a refused tensor is refused whole


def test_asking_for_an_output_79000_times_is_refused_up_front(settings_for: Callable[..., Settings]) -> None:
    # Issue 19 item 4: 256 texts with `probabilities` asked 79,000 times answered 797 MB before.
    with TestClient(create_app(settings_for(max_batch_items=256, max_text_chars=2000))) as client:
        body = {"inputs": [text_input(["good plot"] * 256)], "outputs": [{"name": "probabilities"}] * 79_000}
        raw = json.dumps(body, separators=(",", ":")).encode()
        assert 1_900_000 < len(raw) < 2_000_000  # the size of the original probe, under the 2 MB body limit
        response = client.post(INFER, content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 422 and len(response.content) < 1000
        assert response.json()["code"] == "invalid_tensor" and "more than once" in response.json()["error"]
        assert admin_rows(client) == []
        every = client.post(INFER, json={**body, "outputs": [{"name": n} for n in ("label", "score", "probabilities")]})
        assert every.status_code == 200 and len(every.content) < 60_000  # each output once: bounded by the texts


@pytest.mark.parametrize(
    ("raw", "headers", "message"),
    [
        # A proxy that reads the first "name" sees another request than the model would.
        (
            b'{"inputs": [{"name": "text", "name": "x", "shape": [1], "datatype": "BYTES", "data": ["good"]}]}',
            {},
            "duplicate key 'name'",
        ),
        (
            b'{"inputs": [], "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["good"]}]}',
            {},
            "duplicate key 'inputs'",
        ),
        (b"\xef\xbb\xbf" + json.dumps({"inputs": [text_input(["good"])]}).encode(), {}, "byte order mark"),
        (json.dumps({"inputs": [text_input(["good"])]}).encode("utf-16"), {}, "not UTF-8"),
        (b'{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["good"]}], "id": NaN}', {}, "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, {}, "nested too deep"),
    ],
)
def test_bodies_json_does_not_allow_are_refused(
    client: TestClient, raw: bytes, headers: dict[str, str], message: str
) -> None:
    response = client.post(INFER, content=raw, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_json" and message in response.json()["error"]


@pytest.mark.parametrize("length", ["1_0_5", " 105", "+105", "105 ", "105.0", "0x69"])
def test_header_length_takes_ascii_digits_only(client: TestClient, length: str) -> None:
    header = json.dumps({"inputs": [text_input(["good"])]}).encode()
    sent = header + b"\0" * (105 - len(header)) if len(header) < 105 else header
    response = client.post(INFER, content=sent, headers={"Inference-Header-Content-Length": length})
    assert response.status_code == 422 and response.json()["code"] == "invalid_tensor", response.text
    assert "is not a number of bytes" in response.json()["error"]


def test_other_errors_keep_the_protocols_shape(client: TestClient) -> None:
    cases = [
        (client.post(INFER, content=b"{oops", headers={"Content-Type": "application/json"}), 400, "invalid_json"),
        (client.post(INFER, content=b"{}x", headers={"Inference-Header-Content-Length": "99"}), 422, "invalid_tensor"),
        (client.post("/v2/models/other/infer", json={"inputs": []}), 404, "model_not_found"),
        (client.get("/v2/models/other"), 404, "model_not_found"),
        (client.get("/v2/models/other/ready"), 404, "model_not_found"),
        (client.get("/v2/nowhere"), 404, "not_found"),
        (client.post(INFER, content=b"x" * 2_000_001), 413, "body_too_large"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert isinstance(response.json()["error"], str) and response.json()["code"] == code


def test_health_metadata_and_auth(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(api_keys=[USER], oip_model_name="reviews"))) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.get("/v2/models/reviews/ready").json() == {"name": "reviews", "ready": True}
        assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
        missing = client.post("/v2/models/reviews/infer", json={"inputs": [text_input(TEXTS)]})
        assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/v2/models/reviews", headers={"X-API-Key": "wrong-key-123"})
        assert wrong.status_code == 403 and isinstance(wrong.json()["error"], str)
        metadata = client.get("/v2/models/reviews", headers={"Authorization": f"Bearer {USER}"}).json()
        assert metadata == {
            "name": "reviews",
            "versions": [client.get("/v1/model", headers={"X-API-Key": USER}).json()["version"]],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP32", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
                {"name": "polarity", "datatype": "FP32", "shape": [-1]},
            ],
        }
        ok = client.post("/v2/models/reviews/infer", json={"inputs": [text_input(TEXTS)]}, headers={"X-API-Key": USER})
        assert ok.status_code == 200


def test_log_rows_and_metrics(client: TestClient) -> None:
    client.post(INFER, json={"inputs": [text_input(TEXTS[:2])]}, headers={"X-Request-ID": "oip-log-1"})
    client.get("/v2/models/sentiment/versions/abc/ready")
    rows = [r for r in admin_rows(client) if r["request_id"] == "oip-log-1"]
    assert sorted((r["endpoint"], r["item_index"], r["text"]) for r in rows) == [
        ("v2/infer", 0, TEXTS[0]),
        ("v2/infer", 1, TEXTS[1]),
    ]
    metrics = client.get("/metrics").text
    assert 'sentiment_requests_total{route="/v2/models/{name}/infer",status="200"} 1.0' in metrics
    assert 'route="/v2/models/{name}/versions/{version}/ready",status="404"' in metrics


def test_openapi_documents_the_protocol(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready"} <= set(paths)
    body = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in json.dumps(body) and body["required"] == ["inputs"]
