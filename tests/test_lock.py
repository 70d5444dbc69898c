"""requirements/lock.txt is in step with pyproject.toml (scripts/lock.sh refreshes it)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
SOURCES = (ROOT / "pyproject.toml", ROOT / "client" / "pyproject.toml")


def inputs_digest() -> str:
    """A hash of every dependency list the lock is resolved from (not of lint or test settings)."""
    lists = []
    for source in SOURCES:
        project = tomllib.loads(source.read_text())["project"]
        lists.append([project.get("dependencies", []), project.get("optional-dependencies", {})])
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def pins() -> dict[str, str]:
    found = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


def test_the_lock_was_made_from_todays_dependency_lists() -> None:
    first = LOCK.read_text().splitlines()[0]
    assert first == f"# inputs-sha256: {inputs_digest()}", "pyproject.toml changed: run bash scripts/lock.sh"


def test_every_requirement_is_pinned_to_a_version_its_range_allows() -> None:
    locked = pins()
    assert len(locked) > 50
    for source in SOURCES:
        project = tomllib.loads(source.read_text())["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        for line in requirements:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            if name == "sentiment-service":  # the dev extra's reference to the other extras
                continue
            assert name in locked, f"{source.name}: {requirement.name} is not in the lock"
            assert requirement.specifier.contains(locked[name], prereleases=True), (
                f"{source.name}: {line} but the lock pins {locked[name]}"
            )


def test_torch_is_pinned_without_a_build_tag() -> None:
    # the CPU build (2.13.0+cpu) satisfies torch==2.13.0; a tag would make PyPI-only machines fail
    assert pins()["torch"] == "2.13.0"
