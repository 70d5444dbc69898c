import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from model import ArtifactError, load_artifact, load_predictor
from tests.conftest import make_artifact


@pytest.fixture()
def artifact(tmp_path: Path, tiny_artifact: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_artifact, copy)
    return copy


def test_round_trip_gives_identical_predictions(tiny_artifact: Path, tmp_path: Path) -> None:
    again = make_artifact(tmp_path / "again")  # same seed -> same weights -> same bytes
    texts = ["good movie", "the plot was awful !", ""]
    a, b = load_predictor(tiny_artifact).predict(texts), load_predictor(again).predict(texts)
    assert a == b
    assert load_artifact(tiny_artifact).version == load_artifact(again).version


def test_version_changes_with_the_weights(tiny_artifact: Path, tmp_path: Path) -> None:
    other = make_artifact(tmp_path / "other", seed=1)
    assert load_artifact(other).version != load_artifact(tiny_artifact).version


def _refused(path: Path, file: str, words: str) -> None:
    with pytest.raises(ArtifactError) as info:
        load_artifact(path)
    assert file in str(info.value) and words in str(info.value)


def test_missing_file_is_named(artifact: Path) -> None:
    (artifact / "vocab.json").unlink()
    _refused(artifact, "vocab.json", "missing")


def test_truncated_weights_are_refused(artifact: Path) -> None:
    data = (artifact / "weights.safetensors").read_bytes()
    (artifact / "weights.safetensors").write_bytes(data[: len(data) // 2])
    _refused(artifact, "weights.safetensors", "not a valid safetensors file")


def test_pickle_renamed_to_safetensors_is_refused_without_running(artifact: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.write_text, ("ran",))

    (artifact / "weights.safetensors").write_bytes(pickle.dumps(Exploit()))
    _refused(artifact, "weights.safetensors", "not a valid safetensors file")
    assert not marker.exists()


def test_torch_save_file_is_refused(artifact: Path) -> None:
    torch.save({"x": torch.zeros(2)}, artifact / "weights.safetensors")
    _refused(artifact, "weights.safetensors", "not a valid safetensors file")


def test_wrong_shapes_are_refused(artifact: Path) -> None:
    config = json.loads((artifact / "config.json").read_text())
    config["hidden_size"] = 32
    (artifact / "config.json").write_text(json.dumps(config))
    _refused(artifact, "weights.safetensors", "config needs")


def test_foreign_tensors_are_refused(artifact: Path) -> None:
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(artifact / "weights.safetensors"))
    _refused(artifact, "weights.safetensors", "missing")


def test_labels_must_match_the_output_layer(artifact: Path) -> None:
    config = json.loads((artifact / "config.json").read_text())
    config["labels"] = ["a", "b", "c"]
    (artifact / "config.json").write_text(json.dumps(config))
    _refused(artifact, "weights.safetensors", "output.weight")


def test_unknown_format_version_is_refused(artifact: Path) -> None:
    config = json.loads((artifact / "config.json").read_text())
    config["format_version"] = 99
    (artifact / "config.json").write_text(json.dumps(config))
    _refused(artifact, "config.json", "format_version 99")


def test_corrupt_json_names_the_line(artifact: Path) -> None:
    (artifact / "config.json").write_text('{\n  "format_version": 1,\n  oops\n}')
    _refused(artifact, "config.json", "line 3")


def test_vocab_size_mismatch_is_refused(artifact: Path) -> None:
    vocab = json.loads((artifact / "vocab.json").read_text())
    vocab["tokens"].append("extra")
    (artifact / "vocab.json").write_text(json.dumps(vocab))
    _refused(artifact, "vocab.json", "tokens")


def test_not_a_directory(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere", "nowhere", "not a directory")


def test_artifact_files_are_readable_by_other_users(tiny_artifact: Path) -> None:
    # The service often runs as another user than the trainer (the Docker image runs as uid 10001).
    assert all(f.stat().st_mode & 0o004 for f in tiny_artifact.iterdir() if f.is_file())
