"""The README's training commands work as written: each is extracted, pointed at small fixtures, and run.

`train` commands run end to end with `--dry-run` (one batch, then the artifact); `evaluate` runs in
full on what they wrote. Commands whose inputs come from an earlier stage this test cannot run
quickly (the teacher, the transfer set, a replay of the shipped model's 80k texts, a download) are
parsed by the real argument parser, so a renamed or removed flag fails here too.
"""

import csv
import re
import shlex
import tarfile
from pathlib import Path

import pytest

from tests.conftest import synthetic_reviews
from training.__main__ import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = (".venv/bin/python -m training ", "python -m training ")


def readme_commands() -> list[list[str]]:
    """Every `python -m training ...` command of the README's bash blocks, variables expanded."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        variables: dict[str, str] = {}
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #", 1)[0].strip()
            if assignment := re.fullmatch(r'([A-Z_]+)="([^"]*)"', line):
                variables[assignment.group(1)] = assignment.group(2)
                continue
            for name, value in variables.items():
                line = line.replace(f"${name}", value)
            for prefix in PREFIXES:
                if line.startswith(prefix):
                    commands.append(shlex.split(line[len(prefix) :]))
    return commands


def _fixtures(root: Path) -> dict[str, Path]:
    tree = root / "imdb"
    for split in ("train", "test"):
        for i, (text, label) in enumerate(synthetic_reviews(24, seed=9)):
            folder = tree / "aclImdb" / split / ("pos" if label == "positive" else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_5.txt").write_text(text)
    archive = root / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree / "aclImdb", arcname="aclImdb")
    sst = root / "sst2_train.tsv"
    with sst.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "sentence"])
        writer.writerows((1 if label == "positive" else 0, text) for text, label in synthetic_reviews(40, seed=8))
    mine = root / "mine.csv"
    with mine.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(synthetic_reviews(40, seed=7))
    return {"aclImdb_v1.tar.gz": archive, "sst2_train.tsv": sst, "mine.csv": mine, "mine_test.csv": mine}


def _localise(args: list[str], fixtures: dict[str, Path], tmp: Path) -> list[str]:
    out = args[:1]  # the subcommand ("data" is one too)
    for arg in args[1:]:
        name = arg.rstrip("/").rsplit("/", 1)[-1]
        if arg.rstrip("/") in ("data", "../shared/data"):  # a folder (download --dir, --replay-from)
            out.append(str(tmp / "data"))
        elif arg.startswith(("data/", "../shared/data/")) or name in fixtures:
            if name not in fixtures:
                raise AssertionError(f"the README names {arg}: give this test a fixture for it")
            out.append(str(fixtures[name]))
        elif arg.startswith("runs/"):
            out.append(str(tmp / arg))
        else:
            out.append(arg)
    return out


def test_the_readme_names_the_training_commands() -> None:
    names = [c[0] for c in readme_commands()]
    assert {"data", "train", "evaluate"} <= set(names)
    assert any("--init-from" in c for c in readme_commands())  # the fine-tuning loop is shown


def test_every_readme_training_command_runs_or_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = _fixtures(tmp_path)
    ran = 0
    for command in readme_commands():
        args = _localise(command, fixtures, tmp_path)
        runnable = args[0] in ("train", "evaluate") and not {"--transfer", "--replay"} & set(args)
        if not runnable:
            build_parser().parse_args(args)  # exits 2 on an unknown or malformed flag
            continue
        if args[0] == "train":
            args += ["--dry-run", "--threads", "1"]
        code = main(args)
        assert code == 0, (command, capsys.readouterr().err[-2000:])
        ran += 1
    assert ran >= 3  # train, evaluate, and the fine-tuning run
