"""Supply chain: every dependency pinned to one version, that version installed, and ruff's
security rules (bandit's checks) on for all our code."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[a-z0-9,_\-]+\])?==([0-9][0-9A-Za-z.+\-]*)$")


def _requirements() -> list[str]:
    project = PYPROJECT["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [*project["dependencies"], *extras, *PYPROJECT["build-system"]["requires"]]


def test_every_dependency_is_pinned_to_one_version() -> None:
    loose = [r for r in _requirements() if not PIN.match(r)]
    assert loose == [], f"pin these with ==: {loose}"


def test_the_installed_versions_are_the_pinned_ones() -> None:
    wrong = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        match = PIN.match(requirement)
        assert match is not None
        name, pinned = match.group(1), match.group(3)
        try:
            installed = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name}: not installed")
            continue
        if installed != pinned:
            wrong.append(f"{name}: {installed} installed, {pinned} pinned")
    assert wrong == [], "run `make install`: " + "; ".join(wrong)


def test_ruffs_security_rules_cover_all_our_code() -> None:
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    # Exemptions are per file and per rule, each with its reason in pyproject.toml.
    for path, rules in lint.get("per-file-ignores", {}).items():
        if path.startswith("src/"):
            assert rules == ["S608"], f"{path}: only S608 (SQL from candor's own metadata)"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "ruff check src tests bench tools" in makefile
    assert re.search(r"^test: .*\baudit\b", makefile, re.MULTILINE)
