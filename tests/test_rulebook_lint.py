"""Rulebook lint: the shipped rulebooks are clean; each bad rulebook of the corpus fails with
exactly its finding; activate refuses errors; the registry's format refuses prohibited data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.registry import Registry
from candor.errors import RulebookError
from candor.services.registry import load_registry
from candor.services.rulebook_lint import errors, lint_file, lint_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.settings import Settings
from candor.store import Store

CORPUS = Path(__file__).parent / "rulebooks" / "lint"
BAD = sorted((CORPUS / "bad").glob("*.yaml"))
BAD_REGISTRIES = sorted((CORPUS / "bad-registry").glob("*.yaml"))
NO_BASIS = CORPUS / "bad" / "01-rule-without-legal-basis.yaml"
LIST_NO_BASIS = CORPUS / "bad" / "02-list-without-legal-basis.yaml"
NO_WARNING = CORPUS / "bad" / "16-list-without-advance-warning.yaml"
TODAY = date(2026, 11, 23)


@pytest.fixture
def sample_registry() -> Registry:
    """The shipped registry, for the tests that need no store (run once, not per engine)."""
    return load_registry(Settings.load(environ={}))


def _expected(path: Path) -> tuple[str, str, str]:
    """A corpus file's ``# expect: SEVERITY CODE PATH`` line."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect: "):
            severity, code, where = line.removeprefix("# expect: ").split()
            return severity, code, where
    raise AssertionError(f"{path.name} says nothing it expects")


@pytest.mark.parametrize(
    "path", [*sorted(SAMPLE_RULEBOOKS.glob("*.yaml")), CORPUS / "clean.yaml"], ids=lambda p: p.name
)
def test_the_shipped_rulebooks_and_the_clean_one_have_no_errors(
    path: Path, sample_registry: Registry
) -> None:
    rulebook, found = lint_file(path, sample_registry)
    assert rulebook is not None
    assert errors(found) == []
    if path.parent == CORPUS:  # the corpus's base: not even a warning
        assert found == []


def test_the_corpus_has_a_bad_rulebook_for_every_finding() -> None:
    assert len(BAD) >= 15
    codes = {_expected(p)[1] for p in BAD}
    assert codes >= {
        "legal-basis",
        "no-maximum-term",
        "no-way-off",
        "prohibited-data",
        "measure-target",
        "cross-domain",
        "not-final",
        "condition",
        "disproportionate",
        "no-advance-warning",
        "overlapping-rules",
        "grade-bands",
    }


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_each_bad_rulebook_fails_with_exactly_its_finding(
    path: Path, sample_registry: Registry
) -> None:
    severity, code, where = _expected(path)
    _, found = lint_file(path, sample_registry)
    assert [(f.severity.value, f.code, f.path) for f in found] == [(severity, code, where)]
    (finding,) = found
    assert finding.file == str(path) and finding.why
    assert finding.line().startswith(f"{path}: {severity}: {where}: ")


@pytest.mark.parametrize("path", BAD_REGISTRIES, ids=lambda p: p.stem)
def test_a_registry_cannot_declare_prohibited_data_and_lint_names_the_field(path: Path) -> None:
    severity, code, where = _expected(path)
    registry, found = lint_registry(path)
    assert registry is None
    assert [(f.severity.value, f.code, f.path) for f in found] == [(severity, code, where)]
    assert "candor never" in found[0].why


def test_a_rulebook_that_does_not_parse_is_a_finding_not_a_crash(
    tmp_path: Path, sample_registry: Registry
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        (CORPUS / "clean.yaml").read_text(encoding="utf-8").replace("base: 1000", "base: lots"),
        encoding="utf-8",
    )
    rulebook, found = lint_file(path, sample_registry)
    assert rulebook is None
    assert [(f.code, f.path) for f in found] == [("invalid", "score.base")]


def test_activate_refuses_a_rulebook_with_errors_and_takes_one_with_warnings(
    store: Store, registry: Registry
) -> None:
    with pytest.raises(RulebookError, match=r"lists\.debtors\.legal_basis") as refused:
        activate(store, registry, LIST_NO_BASIS, effective=None, today=TODAY)
    assert "legal-basis" in refused.value.detail
    assert activate(store, registry, NO_WARNING, effective=None, today=TODAY).created


def test_candor_rulebook_lint_exits_1_on_errors_and_says_each_finding(
    settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"CANDOR_DATABASE_URL": settings.database_url}
    bad = runner.invoke(
        app, ["rulebook", "lint", str(NO_BASIS), str(NO_WARNING), "--json"], env=env
    )
    assert bad.exit_code == 1, bad.output
    doc = json.loads(bad.stdout)
    assert set(doc) == {"errors", "warnings"}  # CONTRACT.md
    assert [(f["file"], f["code"], f["path"], f["severity"]) for f in doc["errors"]] == [
        (str(NO_BASIS), "legal-basis", "rules.0.legal_basis", "error")
    ]
    assert [(f["file"], f["code"], f["path"], f["severity"]) for f in doc["warnings"]] == [
        (str(NO_WARNING), "no-advance-warning", "lists.debtors.advance_warning", "warning")
    ]

    warned = runner.invoke(app, ["rulebook", "lint", str(NO_WARNING)], env=env)
    assert warned.exit_code == 0, warned.output
    assert "warning: lists.debtors.advance_warning" in warned.stdout

    clean = runner.invoke(app, ["rulebook", "lint", str(CORPUS / "clean.yaml")], env=env)
    assert clean.exit_code == 0 and "no findings" in clean.stdout


def test_an_entry_without_a_term_on_a_list_without_one_is_named_alone(
    tmp_path: Path, sample_registry: Registry
) -> None:
    text = (CORPUS / "clean.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "      - record_type: court.dishonest_debtor_finding\n    term: {years: 2}\n",
        "      - record_type: court.dishonest_debtor_finding\n"
        "        condition: ground = 1\n"
        "        term: {years: 2}\n"
        "      - record_type: court.dishonest_debtor_finding\n"
        "        condition: ground = 2\n",
    )
    path = tmp_path / "one-entry-unbounded.yaml"
    path.write_text(text, encoding="utf-8")
    _, found = lint_file(path, sample_registry)
    assert [(f.code, f.path) for f in found] == [("no-maximum-term", "lists.debtors.entry.1.term")]


@pytest.mark.parametrize(
    ("first", "second", "apart"),
    [
        ("kind = 'other'", "kind IN ('pyramid', 'fraud')", True),
        ("kind = 'other'", "kind IN ('other', 'fraud')", False),
        ("severity BETWEEN 1 AND 4", "severity >= 5", True),
        ("severity BETWEEN 1 AND 5", "severity >= 5", False),
        ("severity < 5", "severity >= 5", True),
        ("severity <= 5 AND kind = 'other'", "5 < severity", True),
        ("kind = 'other' AND severity > 3", "kind = 'fraud' OR severity > 3", False),
        ("severity > 3", "severity > 7", False),
        (None, "kind = 'other'", False),
    ],
)
def test_rules_overlap_unless_their_conditions_plainly_exclude_each_other(
    tmp_path: Path, sample_registry: Registry, first: str | None, second: str, apart: bool
) -> None:
    text = (CORPUS / "clean.yaml").read_text(encoding="utf-8")
    text = text.replace("condition: kind IN ('pyramid', 'fraud')", f"condition: {second}")
    text = text.replace(
        "    condition: kind = 'other'\n",
        "" if first is None else f"    condition: {first}\n",
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    _, found = lint_file(path, sample_registry)
    assert [f.code for f in found] == ([] if apart else ["overlapping-rules"])
