"""model.language.detect: which language a text is written in, and how sure (issue 22)."""

from model.language import UNDETERMINED, detect


def test_long_texts_are_detected_confidently() -> None:
    language, confidence = detect("这部电影太无聊了，我看了一半就走了。")
    assert language == "zh" and confidence > 0.5
    language, confidence = detect("The plot was thin but the actors carried the whole film.")
    assert language == "en" and confidence > 0.9


def test_wu_and_cantonese_guesses_are_chinese() -> None:
    # py3langid's own answer for these short Mandarin reviews is wuu / yue (languages of zh)
    for text in ("唯一优势是位置。", "服務人員態度良好"):
        assert detect(text)[0] == "zh"


def test_short_english_replies_are_never_confidently_another_language() -> None:
    for text in ("meh", "lol", "10/10", "ok", "wow", "omg", "thx!", "\U0001f602", "\U0001f44d\U0001f3fd"):
        language, confidence = detect(text)
        assert language == "en" or confidence < 0.5, (text, language, confidence)


def test_nothing_to_read_is_undetermined() -> None:
    assert detect("") == (UNDETERMINED, 0.0)
    assert detect("10/10 !!! \U0001f602") == (UNDETERMINED, 0.0)
