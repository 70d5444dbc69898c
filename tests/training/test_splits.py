from training.data import Example
from training.splits import split_examples, split_fingerprint


def _phrases() -> list[Example]:
    """Sentences and their sub-phrases, SST-2 style (lower case, words split by spaces)."""
    rows = []
    for n in range(40):
        label = "positive" if n % 2 else "negative"
        sentence = f"movie {n} was {'great' if n % 2 else 'awful'} and the cast {n} shone"
        words = sentence.split()
        rows.append(Example(sentence, label, "sst"))
        rows.extend(Example(" ".join(words[i : i + 3]), label, "sst") for i in range(0, len(words) - 2, 2))
    rows.append(Example("the cast", "neutral", "sst"))  # inside every sentence
    return rows


def test_validation_holds_whole_sentences_and_training_none_of_their_phrases() -> None:
    examples = _phrases()
    train, val, report = split_examples(examples, 0.2, seed=3)
    assert val and all(e.text.startswith("movie ") and e.text.endswith(" shone") for e in val)
    assert len(val) == 8  # 20% of the 40 sentences
    for e in train:
        assert not any(f" {e.text} " in f" {v.text} " for v in val), e.text  # no sub-phrase of a validation sentence
    assert "the cast" not in {e.text for e in train}  # shared by all sentences: held out with the first
    info = report.sources["sst"]
    assert info["split"] == "by sentence" and info["roots"] == 40 and info["val_sentences"] == 8
    assert info["train_texts"] + info["val_sentences"] + info["dropped_sub_phrases_of_val"] == len(examples)


def test_split_is_deterministic_per_source_whatever_else_is_given() -> None:
    sst = _phrases()
    reviews = [Example(" ".join(["word"] * 80 + [str(i)]), "positive", "imdb") for i in range(50)]
    _, val_alone, _ = split_examples(sst, 0.1, seed=5)
    _, val_mixed, report = split_examples(reviews + sst, 0.1, seed=5)
    assert [e for e in val_mixed if e.source == "sst"] == val_alone
    assert report.sources["imdb"]["split"] == "random" and report.sources["imdb"]["val_texts"] == 5
    assert split_fingerprint(val_alone) == split_fingerprint(list(reversed(val_alone)))
    _, other_seed, _ = split_examples(sst, 0.1, seed=6)
    assert split_fingerprint(other_seed) != split_fingerprint(val_alone)
