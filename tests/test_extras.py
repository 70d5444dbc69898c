"""Each extra, installed alone in a fresh venv, carries what its entry points import (issue 19 item 17).

One test per extra (and one for the base install, the service): a new venv made by uv, the package's
wheel installed with only that extra at the versions of requirements/lock.txt, then the entry
point's `--help` and one real, small call, run by that venv's Python from a folder outside the
checkout, so only what was installed can be imported. `pip install ".[score]"` once could not run
`python -m model score` (tqdm came only with the `train` extra); this is the test that says so.

`dev` is left out: it is `make setup`'s install, which the rest of the suite runs in. The wheel is
built once per module and uv's cache (UV_CACHE_DIR, else uv's default) is shared by every venv, so
only the first run downloads. torch comes as the CPU build 2.13.0 (the lock's), from /opt/wheels
where that folder exists (as scripts/lock.sh) and otherwise PyTorch's CPU index: never PyPI's CUDA
build. Skipped only where uv is missing, and not in CI (CI=true), where that fails.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from tests.support import pgserver

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
PACKAGES = ("model", "training", "service")  # [tool.setuptools.packages.find]
TORCH = "torch==2.13.0+cpu"  # what the lock's torch==2.13.0 must resolve to here
INSTALL_TIMEOUT_S = 600  # a cold cache downloads torch's, Ray's and transformers' wheels
CALL_TIMEOUT_S = 240

REVIEWS = [("A wonderful, moving film.", "positive"), ("Dull and far too long.", "negative")]


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin  # the `uv` package of the dev extra

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@pytest.fixture(scope="module")
def uv() -> str:
    found = find_uv()
    if found is None:
        reason = "uv is not installed (it comes with the dev extra: make setup), so no fresh venv can be made"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def wheel(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built once from a copy of the sources (a build never writes into the checkout)."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    run([uv, "build", "--quiet", "--wheel", "--out-dir", str(dist), str(source)], timeout=INSTALL_TIMEOUT_S)
    (built,) = dist.glob("sentiment_service-*.whl")
    return built


def run(command: list[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run `command`; its stdout, once it exited 0 (else its output's tail in the failure)."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert done.returncode == 0, (
        f"{' '.join(command[:6])} ... exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done.stdout


@dataclass
class Venv:
    python: Path
    home: Path  # the working folder of every call: outside the checkout

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith("SENTIMENT_")
        }
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0")
        return {**env, **(extra or {})}

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run this venv's Python with `args`; its stdout, once it exited 0."""
        return run([str(self.python), *args], timeout=CALL_TIMEOUT_S, cwd=self.home, env=self.env(env))


def make_venv(uv: str, wheel: Path, extra: str, tmp_path: Path) -> Venv:
    venv = tmp_path / "venv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], timeout=120)
    python = venv / "bin" / "python"
    requirement = str(wheel) if extra == "base" else f"{wheel}[{extra}]"
    command = [uv, "pip", "install", "--quiet", "--python", str(python), "--constraint", str(LOCK), requirement]
    if any(Requirement(r).name == "torch" for r in EXTRAS.get(extra, [])):
        cpu = tmp_path / "torch-cpu.txt"
        cpu.write_text(TORCH + "\n")
        command += ["--constraint", str(cpu)]
        if Path("/opt/wheels").is_dir():  # a machine with the CPU wheel on disk (as scripts/lock.sh)
            command += ["--find-links", "/opt/wheels"]
        else:
            command += ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
            command += ["--index-strategy", "unsafe-best-match"]
    run(command, timeout=INSTALL_TIMEOUT_S)
    home = tmp_path / "home"
    home.mkdir()
    return Venv(python, home)


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(venv: Venv, database_url: str) -> Iterator[str]:
    """`python -m service` from the venv on a free loopback port, until it answers /readyz."""
    port = free_port()
    log = venv.home / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(venv.python), "-m", "service", "--port", str(port), "--log-level", "warning"],
            cwd=venv.home,
            env=venv.env({"SENTIMENT_DATABASE_URL": database_url}),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the server exited with {process.returncode}: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the server was not ready in 90 s: {log.read_text()[-3000:]}"
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_base(venv: Venv, request: pytest.FixtureRequest) -> None:
    """The service: its --help, then a real server on a SQLite log answering one prediction."""
    assert "migrate" in venv.run("-m", "service", "--help")
    assert "--check" in venv.run("-m", "service", "migrate", "--help")
    with serving(venv, f"sqlite:///{venv.home / 'requests.db'}") as url:
        answer = httpx.post(url + "/v1/sentiment", json={"text": REVIEWS[0][0]}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "positive"
    # the serving install has no torch (it runs on ONNX Runtime)
    assert venv.run("-c", "import importlib.util; print(importlib.util.find_spec('torch'))").strip() == "None"


def check_postgres(venv: Venv, request: pytest.FixtureRequest) -> None:
    """psycopg under SQLAlchemy: `python -m service migrate` on a real PostgreSQL database where one can run."""
    assert "--check" in venv.run("-m", "service", "migrate", "--help")
    if pgserver.available() is None or os.environ.get("CI") == "true":  # CI installs PostgreSQL
        url = str(request.getfixturevalue("postgres_url"))
        out = venv.run("-m", "service", "migrate", env={"SENTIMENT_DATABASE_URL": url})
        assert "database: postgresql+psycopg://" in out and "(head)" in out, out
    else:  # no server here: the driver loads and SQLAlchemy picks it for the service's URL scheme
        code = (
            "import sqlalchemy; print(sqlalchemy.create_engine('postgresql+psycopg://u@127.0.0.1:1/d').dialect.driver)"
        )
        assert venv.run("-c", code).strip() == "psycopg"


def check_score(venv: Venv, request: pytest.FixtureRequest) -> None:
    """`python -m model score` on a 3-row CSV with the shipped model."""
    assert "--resume" in venv.run("-m", "model", "score", "--help")
    rows = [f'{i},"{text}"' for i, (text, _) in enumerate(REVIEWS, 1)] + ['3,"It was fine."']
    source = write_csv(venv.home / "reviews.csv", "id,text", rows)
    out = venv.home / "scored.csv"
    options = ["--workers", "1", "--no-progress"]
    summary = venv.run("-m", "model", "score", "--in", str(source), "--out", str(out), *options)
    assert json.loads(summary)["rows"] == 3
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        scored = list(reader)
    labels = json.loads(venv.run("-c", "import json, model; print(json.dumps(model.load_predictor().labels))"))
    assert reader.fieldnames == ["id", "text", "label", "score", *(f"prob_{label}" for label in labels), "polarity"]
    assert [row["id"] for row in scored] == ["1", "2", "3"]
    assert [row["label"] for row in scored[:2]] == [label for _, label in REVIEWS]
    assert all(-1 <= float(row["polarity"]) <= 1 for row in scored)


def check_ray(venv: Venv, request: pytest.FixtureRequest) -> None:
    """model.scoring.score_dataset on a local one-CPU Ray, two rows (Ray Data has no command line)."""
    code = f"""
import json, ray
from model.scoring import score_dataset
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
context = ray.data.DataContext.get_current()
context.enable_progress_bars = False
context.execution_options.preserve_order = True
rows = [{{"id": i, "text": t}} for i, t in enumerate({[text for text, _ in REVIEWS]!r})]
print(json.dumps([[r["id"], r["label"]] for r in score_dataset(ray.data.from_items(rows)).take_all()]))
ray.shutdown()
"""
    out = venv.run("-c", code)
    assert json.loads(out.splitlines()[-1]) == [[i, label] for i, (_, label) in enumerate(REVIEWS)]


def check_explain(venv: Venv, request: pytest.FixtureRequest) -> None:
    """Predictor.explain(..., method="integrated_gradients") on the shipped model (a Python API: no --help)."""
    code = """
import json
from model import load_predictor
(e,) = load_predictor().explain(["The food was excellent."], method="integrated_gradients")
print(json.dumps({"method": e.method, "label": e.prediction.label, "top": max(e.tokens, key=lambda t: t.weight).text}))
"""
    expected = {"method": "integrated_gradients", "label": "positive", "top": "excellent"}
    assert json.loads(venv.run("-c", code)) == expected


def labelled_csv(path: Path, n: int) -> Path:
    words = {"positive": ["good", "great", "fine"], "negative": ["bad", "awful", "poor"]}
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        rows.append(f"review {i}: the movie was {words[label][i % 3]} and the plot {words[label][(i + 1) % 3]},{label}")
    return write_csv(path, "text,label", rows)


def check_train(venv: Venv, request: pytest.FixtureRequest) -> None:
    """`python -m training train --dry-run` with tiny sizes, then `evaluate` (its plots) and `explain` (rich)."""
    assert "--dry-run" in venv.run("-m", "training", "train", "--help")
    data = labelled_csv(venv.home / "reviews.csv", 40)
    art = venv.home / "art"
    tiny = ["--embedding-dim", "8", "--hidden-size", "8", "--min-freq", "1", "--threads", "1"]
    args = ["train", "--data", str(data), "--out", str(art), "--dry-run", "--init-vectors", "none", *tiny]
    assert json.loads(venv.run("-m", "training", *args))["train_examples"] == 36
    result = json.loads(venv.run("-m", "training", "evaluate", "--model", str(art), "--data", str(data)))
    # its own training file: only the 4 rows it held out for validation are scored
    assert result["examples"] == 4 and (art / "report" / "confusion_matrix.png").stat().st_size > 0
    assert "strongest:" in venv.run("-m", "training", "explain", "--model", str(art), "the movie was good")


def check_teacher(venv: Venv, request: pytest.FixtureRequest) -> None:
    """`python -m training teacher-train` for one step of 4 texts on the bundled all-MiniLM-L6-v2, offline."""
    assert "--max-train-per-source" in venv.run("-m", "training", "teacher-train", "--help")
    assert "--reuse" in venv.run("-m", "training", "teacher-logits", "--help")
    data = labelled_csv(venv.home / "reviews.csv", 40)
    teacher = venv.home / "teacher"
    small = ["--epochs", "1", "--batch-size", "4", "--max-length", "16", "--max-train-per-source", "4"]
    args = ["teacher-train", "--data", str(data), "--out", str(teacher), *small, "--device", "cpu", "--threads", "2"]
    summary = json.loads(venv.run("-m", "training", *args))
    assert summary["steps"] == 1 and summary["train_examples"] == 4
    assert (teacher / "teacher.json").is_file()


CHECKS: dict[str, Callable[[Venv, pytest.FixtureRequest], None]] = {
    "base": check_base,
    "postgres": check_postgres,
    "score": check_score,
    "ray": check_ray,
    "explain": check_explain,
    "train": check_train,
    "teacher": check_teacher,
}


def test_every_extra_but_dev_is_checked() -> None:
    assert set(CHECKS) - {"base"} == set(EXTRAS) - {"dev"}


@pytest.mark.parametrize("extra", list(CHECKS))
def test_extra_alone_in_a_fresh_venv(
    extra: str, uv: str, wheel: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    CHECKS[extra](make_venv(uv, wheel, extra, tmp_path), request)
