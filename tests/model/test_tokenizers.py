"""Named tokenizers: the registry, the artifact's record of its tokenizer, social-v1 and cjk-v1."""

import json
import shutil
import unicodedata
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model import ArtifactError, BiLSTMClassifier, ModelConfig, Vocab, load_artifact, load_predictor, save_artifact
from model.predictor import DEFAULT_MODEL_DIR
from model.tokenizer import tokenize as english
from model.tokenizers import DEFAULT_TOKENIZER, TOKENIZERS, UnknownTokenizer, cjk, get_tokenizer
from model.tokenizers import social as social_module
from model.tokenizers.social import tokenize as social
from tests.model.test_explain import TRICKY

# Pieces of what people type on social media, glued together at random (with arbitrary text) below.
SOCIAL = [
    ":)",
    ":-(",
    ":D",
    "xD",
    "XD",
    ";)",
    ":/",
    ":'(",
    ":))))",
    "<3",
    "</3",
    "&lt;3",
    "&gt;:(",
    "^_^",
    "o_O",
    "-_-",
    "10:30",
    "1:3",
    ":Dear",
    "http://t.co/abc.",
    "https://example.com/a?b=c&amp;d=e)",
    "www.example.org",
    "@anonymous",
    "@user_1's",
    "a@b.com",
    "#BestDayEver",
    "#NYCMarathon",
    "#iPhone",
    "#1",
    "#top10",
    "#no_way",
    "GREAT",
    "DIDN'T",
    "CAN\u2019T",
    "I",
    "soooo",
    "GOOOOD",
    "yessss!!!!!!",
    "\u00c9T\u00c9",
    "\uff27\uff2f\uff2f\uff24",
    "\u8fd9\u90e8\u7535\u5f71\u592a\u65e0\u804a\u4e86",
    "\u3059\u3054\u3044",
    "\ud55c\uad6d\uc5b4",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e14\u0e35\u0e21\u0e32\u0e01",
    "\u0e31\u0e48",
    "\uff76\uff80\uff76\uff85",
    "\u3002\uff01\uff1f",
    "\u4e2d\u6587abc123\u4e2d",
    "\U0001f602",
    "\U0001f44d\U0001f3fd",
    "\u2764\ufe0f",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\ufe0f",
    "\u200d",
    "&amp;",
    "&#128512;",
    "&ampx",
    "<b>",
    "<br />",
    " ",
    "\n",
]
texts = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(SOCIAL + TRICKY)), max_size=10).map("".join)
spaced = st.lists(st.sampled_from(SOCIAL + TRICKY), max_size=10).map(" ".join)


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
@settings(max_examples=300, deadline=None)
@given(text=st.one_of(texts, spaced))
def test_offsets_give_the_very_tokens_and_index_the_original_text(name: str, text: str) -> None:
    tokenizer = get_tokenizer(name)
    tokens = tokenizer.tokenize(text)
    assert tokens == tokenizer.tokenize(text)  # deterministic
    spans = tokenizer.tokenize_with_offsets(text)
    assert [s.text for s in spans] == tokens
    if name == "social-v1":  # every stage replayed exactly: the fallback (whole-text spans) never runs
        assert social_module.normalize_with_offsets(text).string == social_module.normalize(text)
    previous = (0, 0)
    for s in spans:
        assert s.text and not s.text.isspace()
        assert 0 <= s.start < s.end <= len(text)
        assert (s.start, s.end) >= previous and s.end >= previous[1]  # in order
        assert not text[s.start : s.end].isspace()
        previous = (s.start, s.end)


def test_registry_names_the_known_tokenizers() -> None:
    assert DEFAULT_TOKENIZER == "regex-word-v1"
    assert get_tokenizer("regex-word-v1").tokenize is english
    with pytest.raises(UnknownTokenizer, match="known: regex-word-v1, social-v1, cjk-v1"):
        get_tokenizer("whitespace")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        ModelConfig(vocab_size=10, tokenizer="whitespace")


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("@anonymous LOL. Love that! :D", ["<user>", "<caps>", "lol", ".", "love", "that", "!", ":D"]),
        ("soooo good!!!!!!", ["<elong>", "soo", "good", "!", "!", "!"]),
        (":-))) =( ;-) xD :P :'( &lt;3 &gt;:(", [":)", ":(", ";)", "xD", ":P", ":'(", "<3", ">:("]),
        ("at 10:30, 1:3 :Dear", ["at", "10", ":", "30", ",", "1", ":", "3", ":", "dear"]),
        ("#BestDayEver #1 #iPhone", ["#", "best", "day", "ever", "#", "1", "#", "iphone"]),
        ("see http://url_removed. or www.x.com/a)", ["see", "<url>", ".", "or", "<url>", ")"]),
        ("I DIDN'T like it", ["i", "<caps>", "did", "n't", "like", "it"]),
        ("\U0001f44d\U0001f3fd \u2764\ufe0f", ["\U0001f44d", "\u2764"]),
        ("<3 you <b>so</b> much", ["<3", "you", "so", "much"]),
    ],
)
def test_social_tokens(text: str, tokens: list[str]) -> None:
    assert social(text) == tokens


def test_social_markers_point_at_the_word_they_mark() -> None:
    text = "So GOOOOD :-))) @bob"
    typed = [(s.text, text[s.start : s.end]) for s in get_tokenizer("social-v1").tokenize_with_offsets(text)]
    assert typed == [
        ("so", "So"),
        ("<caps>", "GOOOOD"),
        ("<elong>", "GOOOOD"),
        ("good", "GOOOOD"),
        (":)", ":-)))"),
        ("<user>", "@bob"),
    ]


def test_shipped_model_reads_with_the_english_rules_as_before() -> None:
    # The shipped config.json predates the registry ("tokenizer": "regex-word-v1" beside the sizes).
    assert json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["tokenizer"] == "regex-word-v1"
    predictor = load_predictor(runtime="onnx")
    assert predictor.artifact.config.tokenizer == "regex-word-v1"
    text = "I DIDN'T like it :( #fail http://x.co"
    assert predictor.encode(text).ids == predictor.artifact.vocab.encode(english(text))


def _artifact(directory: Path, tokenizer: str) -> Path:
    torch.manual_seed(0)
    vocab = Vocab(("<pad>", "<unk>", "<caps>", "<elong>", ":)", "good", "soo", "bad", "<user>", "<url>"))
    config = ModelConfig(vocab_size=len(vocab), embedding_dim=8, hidden_size=8, tokenizer=tokenizer)
    save_artifact(directory, network=BiLSTMClassifier(config), vocab=vocab)
    return directory


def test_an_artifact_records_its_tokenizer_and_everything_reads_with_it(tmp_path: Path) -> None:
    path = _artifact(tmp_path / "social", "social-v1")
    assert json.loads((path / "config.json").read_text())["tokenizer"] == "social-v1"
    predictor = load_predictor(path, runtime="onnx")
    text = "SOOO GOOD :-) @bob"
    vocab = predictor.artifact.vocab
    assert predictor.encode(text).ids == vocab.encode(["<caps>", "<elong>", "soo", "<caps>", "good", ":)", "<user>"])
    (explanation,) = predictor.explain([text])
    assert [(t.text, text[t.start : t.end]) for t in explanation.tokens][-2:] == [(":)", ":-)"), ("<user>", "@bob")]
    (prediction,) = predictor.predict([text])
    assert explanation.prediction == prediction
    (sentences,) = predictor.sentences(["So GOOD. :( Bad."])
    assert [s.prediction.tokens_used for s in sentences] == [4, 3]  # "so <caps> good ." and ":( bad ."


def test_an_unknown_tokenizer_is_refused_naming_the_file_and_the_known_ones(tmp_path: Path) -> None:
    path = _artifact(tmp_path / "a", "regex-word-v1")
    for value in ("sentencepiece-v9", None, ["regex-word-v1"]):
        shutil.copytree(path, tmp_path / "b", dirs_exist_ok=True)
        config = json.loads((tmp_path / "b" / "config.json").read_text())
        if value is None:
            del config["tokenizer"]
        else:
            config["tokenizer"] = value
        (tmp_path / "b" / "config.json").write_text(json.dumps(config))
        with pytest.raises(ArtifactError) as info:
            load_artifact(tmp_path / "b")
        message = str(info.value)
        assert "config.json" in message and ", ".join(TOKENIZERS) in message


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "\u592a\u65e0\u804a\u4e86",
            ["\u592a", "\u592a\u65e0", "\u65e0", "\u65e0\u804a", "\u804a", "\u804a\u4e86", "\u4e86"],
        ),
        ("iPhone\u5f88\u597d!", ["iphone", "\u5f88", "\u5f88\u597d", "\u597d", "!"]),
        ("3\u5929\U0001f621", ["3", "\u5929", "\U0001f621"]),
        ("\u6b63\u3057\u3044\u3002", ["\u6b63", "\u6b63\u3057", "\u3057", "\u3057\u3044", "\u3044", "\u3002"]),
        ("\uc815\ub9d0 \uc88b\uc544", ["\uc815", "\uc815\ub9d0", "\ub9d0", "\uc88b", "\uc88b\uc544", "\uc544"]),
        (
            "\u0e14\u0e35\u0e21\u0e32\u0e01",
            ["\u0e14\u0e35", "\u0e14\u0e35\u0e21", "\u0e21", "\u0e21\u0e32", "\u0e32", "\u0e32\u0e01", "\u0e01"],
        ),
        ("\uff76\uff80", ["\u30ab", "\u30ab\u30bf", "\u30bf"]),  # half-width kana: NFKC, offsets on what was typed
    ],
)
def test_cjk_tokens(text: str, tokens: list[str]) -> None:
    assert get_tokenizer("cjk-v1").tokenize(text) == tokens


def test_cjk_knows_every_mark_of_its_scripts() -> None:
    marks = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c))[0] == "M"]
    assert [m for m in marks if cjk._HAS_SCRIPT.match(m)] == [m for m in marks if cjk._MARK.match(m)]


def test_cjk_bigrams_span_both_characters() -> None:
    text = "&amp;\u5f88\u597d"
    typed = [(s.text, text[s.start : s.end]) for s in get_tokenizer("cjk-v1").tokenize_with_offsets(text)]
    assert typed == [
        ("&", "&amp;"),
        ("\u5f88", "\u5f88"),
        ("\u5f88\u597d", "\u5f88\u597d"),
        ("\u597d", "\u597d"),
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2000)))
def test_cjk_is_the_english_rules_where_no_such_script_occurs(text: str) -> None:
    cjk = get_tokenizer("cjk-v1")
    if not any("\u0e00" <= c <= "\u0e7f" or "\u1100" <= c <= "\u11ff" for c in text):
        assert cjk.tokenize(text) == english(text)
        assert cjk.tokenize_with_offsets(text) == get_tokenizer("regex-word-v1").tokenize_with_offsets(text)
