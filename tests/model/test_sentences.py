"""Sentence splitting of Chinese and Japanese: 。！？ end a sentence, a lone 。 is no sentence (issue 22)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.sentences import _starts, split_sentences


def pieces(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("这本书很好。物流太慢了！为什么？还行吧", ["这本书很好。", "物流太慢了！", "为什么？", "还行吧"]),
        ("质量不错!!就是贵了点。。。下次再来", ["质量不错!!", "就是贵了点。。。", "下次再来"]),
        ("他说：“太好了！”然后走了。", ["他说：“太好了！”", "然后走了。"]),
        ("Great book. 物流太慢了！ 好评", ["Great book.", "物流太慢了！", "好评"]),
        ("とても良い。また買います！", ["とても良い。", "また買います！"]),
        ("好评。", ["好评。"]),
        ("不实用。。。。。。", ["不实用。。。。。。"]),  # Bling Fire: six sentences
        ("书还没到？？", ["书还没到？？"]),
    ],
)
def test_chinese_and_japanese_sentences(text: str, sentences: list[str]) -> None:
    assert pieces(text) == sentences


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("好评不错。！？!? a.\n“”"), max_size=40))
def test_sentences_cover_every_character_in_order(text: str) -> None:
    spans = split_sentences(text)
    assert "".join(text[s.start : s.end] for s in spans).replace(" ", "").replace("\n", "") == "".join(text.split())
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_text_without_those_marks_splits_as_bling_fire_splits_it() -> None:
    text = "Dr. Smith was late. The film? Great!! I'd go again"
    assert [s.start for s in split_sentences(text)] == _starts(text)
