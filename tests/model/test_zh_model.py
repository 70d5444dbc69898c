"""The shipped Chinese model (model/zh, scripts/train_zh.sh): it loads, reads words, says what it scored."""

import json
from pathlib import Path

import pytest

from model import load_predictor

ZH = Path(__file__).resolve().parents[2] / "model" / "zh"


@pytest.fixture(scope="module")
def metrics() -> dict[str, object]:
    return json.loads((ZH / "metrics.json").read_text(encoding="utf-8"))


def test_it_reads_with_jieba_words() -> None:
    assert json.loads((ZH / "config.json").read_text(encoding="utf-8"))["tokenizer"] == "zh-jieba-v1"


def test_its_validation_accuracy_is_recorded_and_beats_the_tfidf_baseline(metrics: dict[str, object]) -> None:
    validation = metrics["validation"]
    assert isinstance(validation, dict) and validation["examples"] == 1376
    assert validation["accuracy"] > 0.8328  # TF-IDF char 1-3-grams on the same rows (BENCHMARKS.md)


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_it_answers_chinese(runtime: str) -> None:
    predictor = load_predictor(ZH, runtime=runtime)
    texts = [
        "这部电影太无聊了",
        "质量很好，物流也快，非常满意",
        "书的内容很空洞，不推荐。",
        "酒店位置不错，服务也很热情！",
    ]
    assert [p.label for p in predictor.predict(texts)] == ["negative", "positive", "negative", "positive"]
    (explanation,) = predictor.explain(["物流太慢了！"])
    assert [(t.text, "物流太慢了！"[t.start : t.end]) for t in explanation.tokens][:2] == [
        ("物流", "物流"),
        ("太慢", "太慢"),
    ]


def test_onnx_answers_as_torch() -> None:
    texts = ["这部电影太无聊了", "还行吧，物流有点慢。iPhone壳子质量不错👍", "一般般"]
    onnx = load_predictor(ZH, runtime="onnx").predict(texts)
    torch = load_predictor(ZH, runtime="torch").predict(texts)
    for a, b in zip(onnx, torch, strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
