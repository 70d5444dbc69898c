"""A client that speaks the Open Inference Protocol, unchanged: tritonclient's HTTP client on a real process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.e2e
KEY = "oip-user-key-1"
TEXTS = ["good movie", "awful plot !", "the plot was fine", "naïve café 😀 great"]


@pytest.fixture(scope="module")
def served(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("oip")
    env = {"SENTIMENT_MODEL_DIR": str(tiny_artifact), "SENTIMENT_API_KEYS": KEY, "SENTIMENT_LOG_FLUSH_MS": "10"}
    server = ServerProcess.start(root / "requests.db", env)
    yield server
    server.stop()


@pytest.fixture()
def client(served: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    connection = triton.InferenceServerClient(url=served.url.removeprefix("http://"))
    yield connection
    connection.close()


def v1(served: ServerProcess) -> list[dict[str, object]]:
    response = httpx.post(served.url + "/v1/sentiment/batch", json={"texts": TEXTS}, headers={"X-API-Key": KEY})
    return response.json()["results"]  # type: ignore[no-any-return]


def as_text(values: np.ndarray) -> list[str]:
    """BYTES outputs: bytes when sent as binary data, str when sent as JSON (tritonclient's way)."""
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def texts_input(binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("text", [len(TEXTS)], "BYTES")
    tensor.set_data_from_numpy(np.array([t.encode() for t in TEXTS], dtype=np.object_), binary_data=binary)
    return tensor


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    auth = {"X-API-Key": KEY}
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("sentiment")
    assert not client.is_model_ready("other")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata("sentiment", headers=auth)
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [("text", "BYTES")]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "score", "probabilities", "polarity"]
    version = metadata["versions"][0]
    assert client.is_model_ready("sentiment", model_version=version)
    assert client.get_model_metadata("sentiment", model_version=version, headers=auth)["name"] == "sentiment"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_matches_v1(served: ServerProcess, client: triton.InferenceServerClient, binary: bool) -> None:
    names = ("label", "score", "probabilities", "polarity")
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in names]
    result = client.infer(
        "sentiment", [texts_input(binary)], outputs=outputs, request_id="triton-1", headers={"X-API-Key": KEY}
    )
    expected = v1(served)
    assert as_text(result.as_numpy("label")) == [r["label"] for r in expected]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (len(TEXTS), 2) and probabilities.dtype == np.float32
    assert probabilities == pytest.approx(np.array([list(r["probabilities"].values()) for r in expected]), abs=1e-6)
    assert result.as_numpy("score") == pytest.approx([r["score"] for r in expected], abs=1e-6)
    polarity = result.as_numpy("polarity")
    assert polarity.shape == (len(TEXTS),) and polarity.dtype == np.float32
    assert polarity == pytest.approx([r["polarity"] for r in expected], abs=1e-6)
    assert result.get_response()["id"] == "triton-1"


def test_default_outputs_come_back_binary(served: ServerProcess, client: triton.InferenceServerClient) -> None:
    result = client.infer("sentiment", [texts_input(True)], headers={"X-API-Key": KEY})  # asks binary_data_output
    expected = v1(served)
    assert as_text(result.as_numpy("label")) == [r["label"] for r in expected]
    assert result.as_numpy("polarity") == pytest.approx([r["polarity"] for r in expected], abs=1e-6)


def test_errors_reach_the_client_as_messages(client: triton.InferenceServerClient) -> None:
    empty = triton.InferInput("text", [1], "BYTES")
    empty.set_data_from_numpy(np.array([b" "], dtype=np.object_))
    with pytest.raises(InferenceServerException) as refused:
        client.infer("sentiment", [empty], headers={"X-API-Key": KEY})
    assert refused.value.status() == "422" and refused.value.message() == "text 0: text is empty"
    with pytest.raises(InferenceServerException) as unauthorized:
        client.infer("sentiment", [texts_input(True)])
    assert unauthorized.value.status() == "401" and "API key" in unauthorized.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("other", headers={"X-API-Key": KEY})
    assert unknown.value.status() == "404" and "no model named 'other'" in unknown.value.message()
