"""ONNX Runtime and torch give the same answers; the ONNX path never imports torch."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model import BiLSTMClassifier, ModelConfig, load_artifact, load_predictor
from model.onnx_backend import OnnxNetwork
from tests.conftest import make_artifact

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("layers", "labels"), [(1, ["negative", "positive"]), (2, ["neg", "neu", "pos"])])
def test_onnx_logits_equal_torch(tmp_path: Path, layers: int, labels: list[str]) -> None:
    artifact = load_artifact(make_artifact(tmp_path / "a", layers=layers, labels=labels, seed=layers))
    onnx_net = OnnxNetwork(artifact.weights, layers, artifact.config.hidden_size)
    rng = np.random.default_rng(0)
    for batch, width in [(1, 1), (1, 7), (5, 23), (16, 40)]:
        lengths = rng.integers(1, width + 1, size=batch)
        lengths[0] = width  # the longest sets the padded width, as in the Predictor
        ids = rng.integers(2, artifact.config.vocab_size, size=(batch, width))
        ids[np.arange(width)[None] >= lengths[:, None]] = 0
        with torch.inference_mode():
            expected = artifact.network(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()
        np.testing.assert_allclose(onnx_net(ids, lengths), expected, atol=1e-5, rtol=0)


def test_predictor_runtimes_agree(tiny_artifact: Path) -> None:
    texts = ["good", "the movie was not good at all , the plot was poor .", "", "great " * 100, "awful !"]
    by_onnx = load_predictor(tiny_artifact, runtime="onnx", batch_size=3).predict(texts)
    by_torch = load_predictor(tiny_artifact, runtime="torch", batch_size=3).predict(texts)
    for a, b in zip(by_onnx, by_torch, strict=True):
        assert a.label == b.label and (a.tokens_used, a.tokens_total) == (b.tokens_used, b.tokens_total)
        for label, p in a.probabilities.items():
            assert abs(p - b.probabilities[label]) < 1e-5


def test_auto_picks_onnx_and_unknown_runtimes_are_refused(tiny_artifact: Path) -> None:
    assert load_predictor(tiny_artifact).runtime == "onnx"
    with pytest.raises(ValueError, match="runtime"):
        load_predictor(tiny_artifact, runtime="tensorflow")


def test_parameter_shapes_match_the_torch_network() -> None:
    for layers in (1, 3):
        config = ModelConfig(vocab_size=50, labels=["a", "b", "c"], embedding_dim=6, hidden_size=5, num_layers=layers)
        actual = {k: tuple(v.shape) for k, v in BiLSTMClassifier(config).state_dict().items()}
        assert config.parameter_shapes() == actual


def test_serving_on_onnx_never_imports_torch(tiny_artifact: Path) -> None:
    code = (
        "import sys, service.app, service.__main__\n"
        "from model import load_predictor\n"
        f"p = load_predictor({str(tiny_artifact)!r}, runtime='onnx')\n"
        "assert p.predict(['good'])[0].label\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_torch_runtime_without_torch_stops_the_service_with_a_clear_error(tiny_artifact: Path, tmp_path: Path) -> None:
    # The serving image has no torch: `sys.modules["torch"] = None` makes it absent the same way.
    code = "import sys; sys.modules['torch'] = None\nfrom service.__main__ import main\nsys.exit(main([]))\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "SENTIMENT_RUNTIME": "torch",
        "SENTIMENT_MODEL_DIR": str(tiny_artifact),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "error: cannot load the model" in result.stderr
    assert "runtime 'torch' needs the package 'torch', which is not installed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("layers", [1, 2])
def test_polarity_head_is_the_same_on_both_runtimes_and_in_range(tmp_path: Path, layers: int) -> None:
    labels = ["negative", "neutral", "positive"]
    path = make_artifact(tmp_path / "a", layers=layers, labels=labels, seed=3, polarity_head=True)
    artifact = load_artifact(path)
    assert set(artifact.weights) >= {"polarity.weight", "polarity.bias"}
    texts = ["good", "the movie was not good at all , the plot was poor .", "", "great " * 30]
    by_onnx = load_predictor(path, runtime="onnx", batch_size=2).predict(texts)
    by_torch = load_predictor(path, runtime="torch", batch_size=2).predict(texts)
    for a, b in zip(by_onnx, by_torch, strict=True):
        assert -1.0 <= a.polarity <= 1.0
        assert abs(a.polarity - b.polarity) < 1e-5
        assert abs(sum(a.probabilities.values()) - 1.0) < 1e-9 and list(a.probabilities) == labels
    # The head is read, not derived: it is not p(positive) - p(negative).
    derived = [p.probabilities["positive"] - p.probabilities["negative"] for p in by_onnx]
    assert any(abs(p.polarity - d) > 1e-3 for p, d in zip(by_onnx, derived, strict=True))
    with torch.inference_mode():
        ids, lengths = torch.tensor([[2, 3, 4]]), torch.tensor([3])
        logits, polarity = artifact.network.outputs(ids, lengths)
        assert torch.equal(logits, artifact.network(ids, lengths)) and polarity is not None


def test_polarity_without_a_head_is_p_positive_minus_p_negative(tmp_path: Path, tiny_artifact: Path) -> None:
    for prediction in load_predictor(tiny_artifact).predict(["good", "awful plot", ""]):
        expected = prediction.probabilities["positive"] - prediction.probabilities["negative"]
        assert abs(prediction.polarity - expected) < 1e-12
    other = make_artifact(tmp_path / "other", labels=["bug", "feature"])
    assert all(p.polarity == 0.0 for p in load_predictor(other).predict(["good", "bad"]))
