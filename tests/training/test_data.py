import json
import tarfile
from pathlib import Path

import pytest

from training.data import DataError, ReadOptions, read_dataset


def _imdb_tree(root: Path) -> Path:
    for split in ("train", "test"):
        for kind, text in (("pos", "Loved it<br />great"), ("neg", "Hated it")):
            folder = root / "aclImdb" / split / kind
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}_{8 if kind == 'pos' else 2}.txt").write_text(f"{text} {i}")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("no label")
    return root


def test_imdb_folder_and_tarball_read_the_same(tmp_path: Path) -> None:
    root = _imdb_tree(tmp_path / "data")
    archive = tmp_path / "imdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "aclImdb", arcname="aclImdb")
    from_dir = read_dataset(root, split="test")
    from_tar = read_dataset(archive, split="test")
    assert from_dir == from_tar
    assert len(from_dir) == 6 and {e.label for e in from_dir} == {"positive", "negative"}
    assert all("no label" not in e.text for e in read_dataset(archive, split="train"))


def test_sst2_style_tsv_with_label_map(tmp_path: Path) -> None:
    path = tmp_path / "sst.tsv"
    path.write_text("label\tsentence\n0\tdull film\n1\ta joy\n")
    rows = read_dataset(path, options=ReadOptions(label_map={"0": "negative", "1": "positive"}))
    assert [(e.text, e.label, e.source) for e in rows] == [
        ("dull film", "negative", "sst"),
        ("a joy", "positive", "sst"),
    ]


def test_csv_with_named_columns_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text('id,body,stars\n1,"good, really",pos\n2,"meh",neu\n')
    rows = read_dataset(path, options=ReadOptions(text_column="body", label_column="stars"))
    assert [(e.text, e.label) for e in rows] == [("good, really", "pos"), ("meh", "neu")]


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"text": "fine", "label": "pos"}) + "\n\n" + json.dumps({"text": "bad", "label": 0}) + "\n"
    )
    assert [(e.text, e.label) for e in read_dataset(path)] == [("fine", "pos"), ("bad", "0")]


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("a.csv", "text,label\nok,pos\n,neg\n", "a.csv:3: empty or missing text"),
        ("b.csv", "text,label\nok,pos\nfine,\n", "b.csv:3: empty or missing label"),
        ("c.tsv", "label\tsentence\n1\tok\n0\tx\textra\n", "c.tsv:3: empty or missing text"),
        ("d.jsonl", '{"text": "ok", "label": "p"}\n{"text": "ok", "label": \n', "d.jsonl:2: not valid JSON"),
        ("e.jsonl", '{"text": "ok", "label": "p"}\n[1, 2]\n', "e.jsonl:2: empty or missing text"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, name: str, content: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=where.replace(".", r"\.")):
        read_dataset(path)
    options = ReadOptions(skip_bad=True)
    rows = read_dataset(path, options=options)
    assert len(rows) == 1 and len(options.skipped) == 1 and where in options.skipped[0]


def test_unmapped_label_is_a_bad_row_not_a_new_class(tmp_path: Path) -> None:
    path = tmp_path / "s.tsv"
    path.write_text("label\tsentence\n0\tdull\n2\twhat\n")
    with pytest.raises(DataError, match=r"s\.tsv:3: label '2' is not in the label map"):
        read_dataset(path, options=ReadOptions(label_map={"0": "negative", "1": "positive"}))


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("x.parquet", b"PAR1", "unknown format"),
        ("empty.csv", b"", "empty file"),
        ("header.csv", b"text,label\n", "no labelled examples"),
        ("latin.csv", "text,label\ncaf\xe9,pos\n".encode("latin-1"), "not UTF-8"),
        ("cols.csv", b"a,b\n1,2\n", "no text column"),
        ("broken.tar.gz", b"not a tarball", "not a readable tar archive"),
    ],
)
def test_unreadable_inputs(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=words):
        read_dataset(path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "nope.csv")
