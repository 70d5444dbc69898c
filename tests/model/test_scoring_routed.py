"""`python -m model score --models`: each row read by the model of its language, as the service routes,
with language, model and supported columns; a language column wins over detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from model import load_predictor
from model.__main__ import main
from model.routing import choose
from tests.conftest import make_artifact
from tests.support.three_labels import make_three_label_artifact

EN = "A wonderful film with a great cast."
ZH = "这部电影太无聊了，我看了一半就走了。"
FR = "Ce film est vraiment magnifique, les acteurs sont excellents."


def _stating(source: Path, target: Path, language: str) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "language": language}))
    return target


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("routed")
    en = _stating(make_three_label_artifact(root / "three"), root / "en", "en")
    zh = _stating(make_artifact(root / "two", seed=7), root / "zh", "zh")
    return {"en": en, "zh": zh}


def _score(tmp_path: Path, models: dict[str, Path], rows: list[dict[str, str]], *extra: str) -> pd.DataFrame:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    spec = ",".join(f"{name}={path}" for name, path in models.items())
    argv = ["score", "--in", str(source), "--out", str(out), "--models", spec, "--workers", "1", "--no-progress"]
    assert main([*argv, *extra]) == 0
    return pd.read_csv(out, keep_default_na=False)


def test_rows_are_read_by_the_model_of_their_language(tmp_path: Path, models: dict[str, Path]) -> None:
    frame = _score(tmp_path, models, [{"text": t} for t in (EN, ZH, FR, "lol")])
    assert list(frame.columns) == [
        "text",
        "label",
        "score",
        "prob_negative",
        "prob_neutral",
        "prob_positive",
        "polarity",
        "language",
        "model",
        "supported",
    ]
    assert list(frame["model"]) == ["en", "zh", "en", "en"]
    assert list(frame["language"]) == ["en", "zh", "fr", "en"]
    assert [str(v) for v in frame["supported"]] == ["True", "True", "False", "True"]
    # each row's prediction is its model's own; a label that model lacks is 0
    (zh,) = load_predictor(models["zh"]).predict([ZH])
    assert frame.loc[1, "label"] == zh.label
    assert frame.loc[1, "prob_positive"] == pytest.approx(zh.probabilities["positive"])
    assert frame.loc[1, "prob_neutral"] == 0
    (en,) = load_predictor(models["en"]).predict([EN])
    assert frame.loc[0, "prob_neutral"] == pytest.approx(en.probabilities["neutral"])


def test_a_language_column_wins_and_empty_means_detect(tmp_path: Path, models: dict[str, Path]) -> None:
    rows = [{"text": EN, "lang": "zh"}, {"text": ZH, "lang": ""}, {"text": EN, "lang": "de"}]
    frame = _score(tmp_path, models, rows, "--language-column", "lang")
    assert list(frame["model"]) == ["zh", "zh", "en"]
    assert list(frame["language"]) == ["zh", "zh", "de"]
    assert [str(v) for v in frame["supported"]] == ["True", "True", "False"]


def test_bad_options_are_named(tmp_path: Path, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\nfine\n")
    out = str(tmp_path / "out.csv")
    assert main(["score", "--in", str(source), "--out", out, "--language-column", "lang"]) == 2
    assert "--language-column" in capsys.readouterr().err
    spec = f"en={models['en']}"
    assert main(["score", "--in", str(source), "--out", out, "--models", spec, "--language-column", "lang"]) == 2
    assert "no language column 'lang'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", "--in", str(source), "--out", out, "--models", "en"])


def test_the_rule_is_the_services() -> None:
    assert choose(ZH, ["en", "zh"]).index == 1
    assert choose("lol", ["en", "zh"]).index == 0
    sure = choose(FR, ["en", "zh"])
    assert (sure.index, sure.language, sure.supported) == (None, "fr", False)
    assert choose(FR, ["en", None]).index == 1  # a model that states no language reads it
    assert choose(FR, [None]).language is None  # nothing stated: nothing identified
    assert choose(EN, ["en", "zh"], language="zh").index == 1
