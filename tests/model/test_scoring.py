"""`python -m model score`: formats, order, bad rows, equality with Predictor.predict, resume."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from model import load_predictor
from model.__main__ import main
from model.scoring import ScoreOptions, score_file
from model.scoring.run import parts_dir
from tests.conftest import make_artifact, synthetic_reviews

ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"{i:05d}", "review": text, "truth": label} for i, (text, label) in enumerate(synthetic_reviews(n))]


def _write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _assert_predictions(frame: pd.DataFrame, texts: list[str], artifact: Path) -> None:
    expected = load_predictor(artifact).predict(texts)  # the CLI's default precision: fp32
    assert frame["label"].tolist() == [p.label for p in expected]
    for label in ("negative", "positive"):
        assert frame[f"prob_{label}"].tolist() == pytest.approx([p.probabilities[label] for p in expected], abs=1e-6)
    assert frame["score"].tolist() == pytest.approx([p.score for p in expected], abs=1e-6)
    assert frame["polarity"].tolist() == pytest.approx([p.polarity for p in expected], abs=1e-6)


@pytest.mark.parametrize("out_name", ["out.csv", "out.parquet", "out.jsonl", "out.tsv"])
def test_csv_scores_in_order_beside_own_columns(tiny_artifact: Path, tmp_path: Path, out_name: str) -> None:
    rows = _rows(23)
    source = _write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / out_name
    summary = score_file(
        ScoreOptions(source=source, out=out, model_dir=tiny_artifact, workers=1, chunk_rows=5, progress=False)
    )
    assert summary.rows == 23 and summary.bad_rows == 0
    if out.suffix == ".parquet":
        frame = pd.read_parquet(out)
        assert pq.read_table(out).schema.field("score").type == pa.float64()
    elif out.suffix == ".jsonl":
        frame = pd.read_json(out, lines=True, dtype=False)
    else:
        sep = "\t" if out.suffix == ".tsv" else ","
        frame = pd.read_csv(out, sep=sep, dtype={"id": str})
        options = pacsv.ConvertOptions(column_types={"id": pa.string()})
        read = pacsv.read_csv(out, parse_options=pacsv.ParseOptions(delimiter=sep), convert_options=options)
        assert read.column("id").to_pylist() == frame["id"].tolist()
    assert list(frame.columns) == [
        *["id", "review", "truth"],
        *["label", "score", "prob_negative", "prob_positive", "polarity"],
    ]
    assert frame["id"].tolist() == [r["id"] for r in rows]  # order and own values kept ("00007" stays text)
    _assert_predictions(frame, [r["review"] for r in rows], tiny_artifact)
    assert not parts_dir(out).exists()


def test_three_labels_get_a_column_each_and_the_polarity_heads_output(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path / "three", labels=["negative", "neutral", "positive"], polarity_head=True)
    rows = _rows(9)
    out = tmp_path / "out.parquet"
    score_file(ScoreOptions(source=_write_csv(tmp_path / "in.csv", rows), out=out, model_dir=artifact, progress=False))
    frame = pd.read_parquet(out)
    added = ["label", "score", "prob_negative", "prob_neutral", "prob_positive", "polarity"]
    assert list(frame.columns) == ["id", "review", "truth", *added]
    expected = load_predictor(artifact).predict([r["review"] for r in rows])
    assert frame["label"].tolist() == [p.label for p in expected]
    assert frame["prob_neutral"].tolist() == pytest.approx([p.probabilities["neutral"] for p in expected], abs=1e-6)
    # the head's output, not p(positive) - p(negative)
    assert frame["polarity"].tolist() == pytest.approx([p.polarity for p in expected], abs=1e-6)
    derived = (frame["prob_positive"] - frame["prob_negative"]).tolist()
    assert frame["polarity"].tolist() != pytest.approx(derived, abs=1e-3)


def test_jsonl_and_parquet_inputs_keep_their_types(tiny_artifact: Path, tmp_path: Path) -> None:
    rows = [{"n": i, "text": t, "tags": ["a", "b"][: i % 3]} for i, (t, _) in enumerate(synthetic_reviews(12))]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score_file(
        ScoreOptions(source=source, out=tmp_path / "a.parquet", model_dir=tiny_artifact, workers=1, progress=False)
    )
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column("n").to_pylist() == list(range(12)) and table.column("tags").to_pylist() == [
        r["tags"] for r in rows
    ]
    score_file(
        ScoreOptions(
            source=tmp_path / "a.parquet",
            out=tmp_path / "b.jsonl",
            model_dir=tiny_artifact,
            workers=1,
            prefix="again_",
            chunk_rows=5,
            chunk_chars=60,  # long texts end a chunk before its row count
            progress=False,
        )
    )
    back = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [b["n"] for b in back] == list(range(12)) and [b["tags"] for b in back] == [r["tags"] for r in rows]
    assert [b["again_label"] for b in back] == [b["label"] for b in back]
    _assert_predictions(pd.DataFrame(back), [r["text"] for r in rows], tiny_artifact)


def _bad_csv(path: Path) -> Path:
    path.write_bytes(
        b'id,text\n1,good movie\n2,\n3,"a quoted\nline break"\n4,caf\xe9 bad bytes\n5,awful plot\n6,x,extra\n7,fine\n'
    )
    return path


def test_bad_rows_stop_with_file_and_line(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _bad_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    assert main(["score", "--in", str(source), "--out", str(out), "--model", str(tiny_artifact), "--workers", "1"]) == 2
    assert f"{source}:3: empty or missing text in column 'text'" in capsys.readouterr().err
    assert not out.exists() and not parts_dir(out).exists()


def test_skip_bad_writes_them_with_an_error(tiny_artifact: Path, tmp_path: Path) -> None:
    source = _bad_csv(tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    summary = score_file(
        ScoreOptions(source=source, out=out, model_dir=tiny_artifact, workers=1, skip_bad=True, progress=False)
    )
    frame = pd.read_parquet(out)
    assert summary.bad_rows == 3 and frame["id"].tolist() == ["1", "2", "3", "4", "5", "6", "7"]
    errors = frame["error"].tolist()
    assert errors[1] == f"{source}:3: empty or missing text in column 'text'"
    assert errors[3] == f"{source}:6: not UTF-8 text (byte 5 of the line)"
    assert errors[5] == f"{source}:8: 3 fields, the header has 2"
    assert (
        frame["label"].isna().tolist()
        == frame["error"].notna().tolist()
        == [False, True, False, True, False, True, False]
    )
    good = frame[frame["error"].isna()]
    _assert_predictions(good.reset_index(drop=True), good["text"].tolist(), tiny_artifact)
    assert good["text"].tolist()[1] == "a quoted\nline break"


def test_refuses_existing_output_and_bad_options(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write_csv(tmp_path / "in.csv", _rows(4))
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    base = ["score", "--in", str(source), "--model", str(tiny_artifact), "--workers", "1", "--no-progress"]
    assert main([*base, "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == "precious\n"
    assert main([*base, "--out", str(out), "--overwrite"]) == 0 and len(pd.read_csv(out)) == 4
    assert main([*base, "--out", str(tmp_path / "x.xml")]) == 2
    assert main([*base, "--out", str(tmp_path / "y.csv"), "--text-column", "nope"]) == 2
    assert main([*base, "--out", str(tmp_path / "z.csv"), "--text-column", "truth", "--prefix", ""]) == 0
    _write_csv(tmp_path / "labelled.csv", [{"text": "good", "label": "positive"}])
    assert main([*base[:2], str(tmp_path / "labelled.csv"), *base[3:], "--out", str(tmp_path / "l.csv")]) == 2
    assert "already has a column named 'label'" in capsys.readouterr().err


def test_worker_processes_then_kill_and_resume(tiny_artifact: Path, tmp_path: Path) -> None:
    """A run killed mid-way (kill -9) continues with --resume to the same output as one clean run."""
    rows = _rows(6000)
    source = _write_csv(tmp_path / "in.tsv", rows, delimiter="\t")
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "model", "score", "--in", str(source), "--out", str(out),
               "--model", str(tiny_artifact), "--chunk-rows", "100", "--no-progress"]  # fmt: skip
    run = subprocess.Popen([*command, "--workers", "1", "--batch-size", "1"], cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (
        not (parts_dir(out) / "part-000002-100rows.jsonl").exists()
        and run.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"
    assert not out.exists()
    refused = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    resumed = subprocess.run(
        [*command, "--resume", "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["rows"] == 6000 and summary["resumed_rows"] >= 300
    frame = pd.read_json(out, lines=True, dtype={"id": str})
    assert frame["id"].tolist() == [r["id"] for r in rows]
    _assert_predictions(frame, [r["review"] for r in rows], tiny_artifact)
    again = subprocess.run([*command, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already complete" in again.stderr


def test_jsonl_bad_lines_are_named_by_line(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"id": 1, "text": "good"}\n{"id": 2, "text": "bad"\n\n[1, 2]\n{"id": 5, "text": "fine", "new": 1}\n'
        b'{"id": "six", "text": "awful"}\n{"id": 7, "text": "caf\xe9"}\n{"id": 8, "text": 8}\n{"id": 9, "text": "ok"}\n'
    )
    out = tmp_path / "out.jsonl"
    score_file(ScoreOptions(source=source, out=out, model_dir=tiny_artifact, workers=1, skip_bad=True, progress=False))
    back = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [(row["error"] or "").removeprefix(f"{source}:") for row in back]
    assert errors == [
        "",
        "2: not valid JSON (Expecting ',' delimiter)",
        "4: not a JSON object",
        "",  # "new" is seen in the first 1,000 rows: a column (null elsewhere)
        "6: a value does not have the type of its column in the first rows",
        "7: not UTF-8 text (byte 22 of the line)",
        "8: text in column 'text' is not a string (int)",
        "",
    ]
    assert [row["id"] for row in back] == [1, None, None, 5, None, None, None, 9]  # rows that do not fit are empty
    assert [row["new"] for row in back] == [None, None, None, 1, None, None, None, None]
    # a key first seen after the rows that set the columns is a bad row, not a silently dropped value
    late = tmp_path / "late.jsonl"
    late.write_text("".join(json.dumps({"text": "good"}) + "\n" for _ in range(1000)) + '{"text": "x", "k": 1}\n')
    assert main(["score", "--in", str(late), "--out", str(tmp_path / "late.csv"), "--model", str(tiny_artifact),
                 "--workers", "1", "--no-progress"]) == 2  # fmt: skip
    assert f"{late}:1001: key 'k' is not among the columns of the first rows ['text']" in capsys.readouterr().err


def test_precision_option_scores_in_that_precision_and_a_resume_keeps_it(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(12)
    source = _write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    base = ["score", "--in", str(source), "--model", str(tiny_artifact), "--workers", "1", "--no-progress"]
    assert main([*base, "--out", str(out), "--precision", "int8"]) == 0
    frame = pd.read_csv(out, dtype={"id": str})
    expected = load_predictor(tiny_artifact, precision="int8").predict([r["review"] for r in rows])
    assert frame["prob_positive"].tolist() == pytest.approx([p.probabilities["positive"] for p in expected], abs=1e-6)
    # an interrupted run (its parts folder left behind) continues only in the precision it started in
    stat = source.stat()
    manifest = {
        "input": {"name": source.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "in_format": "csv",
        "out_format": "csv",
        "text_column": "review",
        "model_version": load_predictor(tiny_artifact).version,
        "prefix": "",
        "skip_bad": False,
        "precision": "int8",
    }
    parts_dir(out).mkdir()
    (parts_dir(out) / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main([*base, "--out", str(out), "--resume", "--precision", "fp32"]) == 2
    assert "cannot resume: precision was 'int8', now 'fp32'" in capsys.readouterr().err
