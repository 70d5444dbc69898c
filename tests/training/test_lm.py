"""Language-model pre-training: it learns, saves under the classifier's names, and loads into it."""

import json
from pathlib import Path

import pytest
import torch

from model import BiLSTMClassifier, ModelConfig, Vocab
from tests.conftest import synthetic_reviews
from training.__main__ import main
from training.lm import BiLanguageModel, LMSettings, chunk, pretrain_lm
from training.train import Encoded, calibrate_bias
from training.vectors import load_lstms, load_vectors


def _imdb_folder(root: Path, n: int) -> Path:
    for i, (text, label) in enumerate(synthetic_reviews(n)):
        kind = ["pos", "neg", "unsup"][i % 3] if label else "unsup"
        folder = root / "aclImdb" / "train" / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}_0.txt").write_text(text)
    return root


def test_lm_loss_falls_and_weights_load_into_the_classifier(tmp_path: Path) -> None:
    texts = [t.split() for t, _ in synthetic_reviews(300)]
    settings = LMSettings(embedding_dim=8, hidden_size=8, epochs=3, batch_size=16, lr=1e-2, device="cpu", min_freq=1)
    info = pretrain_lm(texts, tmp_path / "lm", settings)
    history = info["history"]
    assert history[-1]["val_perplexity"] < history[0]["val_perplexity"]
    assert info["best_val_perplexity"] < info["vocab_size"]  # better than a uniform guess

    vocab = Vocab(("<pad>", "<unk>", "good", "movie", "unseen"))
    network = BiLSTMClassifier(ModelConfig(vocab_size=len(vocab), embedding_dim=8, hidden_size=8))
    assert load_vectors(tmp_path / "lm", vocab, network.embedding.weight.data) == 2  # "unseen" is not in the LM
    assert load_lstms(tmp_path / "lm", network) == 8  # 4 tensors per direction
    saved = json.loads((tmp_path / "lm" / "words.json").read_text())
    assert saved["words"][:2] == ["<pad>", "<unk>"] and saved["info"]["kind"] == "bilm"


def test_lstm_weights_of_another_size_are_refused(tmp_path: Path) -> None:
    texts = [t.split() for t, _ in synthetic_reviews(60)]
    pretrain_lm(texts, tmp_path / "lm", LMSettings(embedding_dim=8, hidden_size=8, epochs=1, device="cpu"))
    network = BiLSTMClassifier(ModelConfig(vocab_size=10, embedding_dim=8, hidden_size=12))
    with pytest.raises(ValueError, match="lstm.safetensors.*shape"):
        load_lstms(tmp_path / "lm", network)


def test_backward_model_predicts_the_previous_token() -> None:
    torch.manual_seed(0)
    model = BiLanguageModel(20, LMSettings(embedding_dim=4, hidden_size=4, dropout=0, embedding_dropout=0))
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    total, count = model(ids, torch.tensor([3, 2]))
    assert count == 2 * (2 + 1)  # (length - 1) predictions per text and direction
    assert torch.isfinite(total)
    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4]]  # a 1-token tail predicts nothing


def test_pretrain_lm_cli_on_an_imdb_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imdb = _imdb_folder(tmp_path / "imdb", 90)
    out = tmp_path / "lm"
    args = ["pretrain-lm", "--imdb", str(imdb), "--out", str(out), "--epochs", "1", "--workers", "1"]
    assert main([*args, "--embedding-dim", "8", "--hidden-size", "8", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["texts"] == 90
    assert {p.name for p in out.iterdir()} == {"words.json", "vectors.safetensors", "lstm.safetensors"}
    assert main(["pretrain-lm", "--imdb", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_calibration_removes_a_bias_towards_one_label() -> None:
    torch.manual_seed(0)
    network = BiLSTMClassifier(ModelConfig(vocab_size=4, embedding_dim=2, hidden_size=2))
    with torch.no_grad():  # the label depends only on the first token; then tilt everything to label 0
        for p in network.parameters():
            p.zero_()
        network.embedding.weight[2] = torch.tensor([3.0, 0.0])
        network.embedding.weight[3] = torch.tensor([-3.0, 0.0])
        network.forward_lstms[0].weight_ih_l0[:, 0] = 3.0
        network.output.weight[1, 0] = 4.0
        network.output.bias[0] = 3.5  # above the 3.05 that the first token gives label 1
    data = Encoded(ids=[[2], [3]] * 50, labels=[1, 0] * 50, sources=["s"] * 100)
    result = calibrate_bias(network, data, batch_size=16, device=torch.device("cpu"))
    assert result["score_before"] < 1.0 and result["score_after"] == 1.0
    assert network.output.bias[0] < 3.05  # folded into the saved weights
