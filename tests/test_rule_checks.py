"""Rulebook rules that must be refused at activation, and a record that does not say how many
points it is worth: checked through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from candor.domain.registry import Registry
from candor.errors import RulebookError
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rate_subject, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from candor.store.ratings import stored_ratings
from tests.helpers import record_object, resident_id

TODAY = date(2026, 11, 23)
RONGCHENG = (SAMPLE_RULEBOOKS / "rongcheng-personal.yaml").read_text(encoding="utf-8")
COURT = (SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml").read_text(encoding="utf-8")


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rulebook.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_half_life_in_months_or_years_is_refused(
    store: Store, registry: Registry, tmp_path: Path
) -> None:
    text = RONGCHENG.replace("    window: {years: 3}\n", "    half_life: {years: 1}\n", 1)
    assert text != RONGCHENG
    with pytest.raises(RulebookError, match="half_life in days"):
        activate(store, registry, _file(tmp_path, text), effective=None, today=TODAY)


def test_an_extension_shorter_at_most_than_at_least_is_refused(
    store: Store, registry: Registry, tmp_path: Path
) -> None:
    text = COURT.replace("      years: 1\n", "      years: 3\n", 1).replace(
        "max_years: 3", "max_years: 2", 1
    )
    assert "max_years: 2" in text and "      years: 3\n" in text
    with pytest.raises(RulebookError, match="max_years must be at least years"):
        activate(store, registry, _file(tmp_path, text), effective=None, today=TODAY)


BY_AMOUNT = """
rulebook: loan-defaults
version: "1"
title: Points by amount in default
domain: finance
score: {base: 1000, minimum: 0}
rules:
  - id: by_amount
    record_type: finance.loan_default
    points_from: {attribute: amount, factor: -0.001, minimum: -200, maximum: -1}
    legal_basis: a test rule
"""


def test_a_record_without_the_points_attribute_does_not_count(
    store: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    activate(store, registry, _file(tmp_path, BY_AMOUNT), effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "everyone", list(registry.record_types))
    who = resident_id(7)

    def row(srid: str, **attributes: object) -> dict[str, object]:
        return record_object(srid, who, "finance.loan_default", "2026-02-01", attributes=attributes)

    # A default that does not say how much is not assumed to be the largest (-200).
    rows = [row("x1"), row("x2", amount=45_000)]
    done = ingest_objects(store, settings, registry, "everyone", rows, today=TODAY)
    assert done.rejected == 0, done.summary()
    hasher = load_secret(settings).identifier_hasher()
    subject = subject_id_for(store, hasher, f"cn_resident_id:{who}", TODAY)
    assert subject is not None
    _, found = rate_subject(store, registry, subject, as_of=TODAY)
    assert [(c["rule_id"], c["points"]) for c in found.contributions] == [("by_amount", -45)]
    assert found.ratings[0]["score"] == 955
    # The batch path agrees (it stores, being for today).
    assert rate_all(store, registry, as_of=TODAY, today=TODAY).stored
    with store.read() as conn:
        assert [score for score, _ in stored_ratings(conn, subject).values()] == [955]
