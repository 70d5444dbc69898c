"""zh-jieba-v1: Chinese as jieba's dictionary words, everything else as cjk-v1 (issue 22).

Offsets over random and mixed-script text are checked for every registered tokenizer in
tests/model/test_tokenizers.py; here: the words, the spans of what was typed, and the English rules.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.tokenizers import get_tokenizer
from model.tokenizers.cjk import tokenize as cjk

ZH = get_tokenizer("zh-jieba-v1")


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("\u8fd9\u90e8\u7535\u5f71\u592a\u65e0\u804a\u4e86", ["这部", "电影", "太", "无聊", "了"]),
        ("iPhone\u5f88\u597d\u7528!", ["iphone", "很", "好", "用", "!"]),
        ("3\u5929\U0001f621", ["3", "天", "\U0001f621"]),
        ("\u6b63\u3057\u3044", ["正", "し", "しい", "い"]),  # kana between Han runs: as cjk-v1
        ("\uc815\ub9d0", ["정", "정말", "말"]),
    ],
)
def test_words(text: str, tokens: list[str]) -> None:
    assert ZH.tokenize(text) == tokens


def test_spans_cover_what_was_typed() -> None:
    text = "\uff29\uff30\uff28\uff2f\uff2e\uff25\u5f88\u597d\u7528\uff0c\u7269\u6d41\u592a\u6162\u4e86\uff01"
    typed = [(s.text, text[s.start : s.end]) for s in ZH.tokenize_with_offsets(text)]
    assert typed == [
        ("iphone", "ＩＰＨＯＮＥ"),
        ("很", "很"),
        ("好", "好"),
        ("用", "用"),
        (",", "，"),
        ("物流", "物流"),
        ("太慢", "太慢"),
        ("了", "了"),
        ("!", "！"),
    ]


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), max_size=30))
def test_words_of_a_han_run_spell_it(text: str) -> None:
    assert "".join(ZH.tokenize(text)) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_the_english_rules_where_no_han_occurs(text: str) -> None:
    if not any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c >= "\U00020000" for c in text):
        assert ZH.tokenize(text) == cjk(text)
