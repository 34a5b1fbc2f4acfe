"""Activation on record: a version with a future effective date leaves ratings as they are until
that date and changes them on it; each version's ratings stay reproducible."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.registry import Registry
from candor.errors import Conflict
from candor.services import subject_reads
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rate_subject, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate, every_version, in_force
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from tests.helpers import record_object, resident_id

TODAY = date(2026, 11, 23)
EFFECTIVE = TODAY + timedelta(days=10)
PERSON = resident_id(1)


def _doubled(tmp_path: Path) -> Path:
    """The Rongcheng rulebook as a next version whose late-utility-fee deduction is doubled."""
    text = (SAMPLE_RULEBOOKS / "rongcheng-personal.yaml").read_text(encoding="utf-8")
    old = "    record_type: utility.late_fees\n    points: -20\n"
    assert old in text
    text = text.replace(old, "    record_type: utility.late_fees\n    points: -40\n")
    text = text.replace('version: "2026.3"', 'version: "2027.1"')
    path = tmp_path / "rongcheng-2027.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _activate_first_version(store: Store, registry: Registry) -> None:
    """The shipped Rongcheng rulebook, governing since 1 May 2017."""
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "rongcheng-personal.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )


def _score(store: Store, registry: Registry, subject_id: int, on: date) -> int:
    _, rows = rate_subject(store, registry, subject_id, as_of=on)
    (rating,) = rows.ratings
    return int(rating["score"])


def test_a_version_with_a_future_effective_date_changes_ratings_on_that_date_only(
    store: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    _activate_first_version(store, registry)
    add_source(store, registry, "city", list(registry.record_types))
    rows = [
        record_object("c1", PERSON, "consent.scoring_granted", "2026-01-05"),
        record_object("u1", PERSON, "utility.late_fees", "2026-06-01", attributes={"amount": 1}),
    ]
    assert ingest_objects(store, settings, registry, "city", rows, today=TODAY).accepted == 2
    subject = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{PERSON}", TODAY
    )
    assert subject is not None
    before = rate_all(store, registry, as_of=TODAY, today=TODAY)

    announced = activate(store, registry, _doubled(tmp_path), effective=EFFECTIVE, today=TODAY)

    assert (announced.created, announced.effective_from) == (True, EFFECTIVE)
    # Until the date the old version governs: the same ratings, the same summary.
    eve = EFFECTIVE - timedelta(days=1)
    assert _score(store, registry, subject, TODAY) == 980
    assert _score(store, registry, subject, eve) == 980
    again = rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert (again.grades, again.reasons) == (before.grades, before.reasons)
    # On it, the new one: the deduction doubled.
    assert _score(store, registry, subject, EFFECTIVE) == 960
    assert rate_all(store, registry, as_of=EFFECTIVE, today=EFFECTIVE).reasons != before.reasons
    # Each version's ratings stay reproducible: asking for a date before the new version's
    # answers under the old one, whenever it is asked.
    assert _score(store, registry, subject, date(2026, 7, 1)) == 980
    versions = {(v.version, v.effective_from) for v in every_version(store)}
    assert versions == {("2026.3", date(2017, 5, 1)), ("2027.1", EFFECTIVE)}
    old_id = next(v.id for v in every_version(store) if v.version == "2026.3")
    assert in_force(store, TODAY) == {old_id}


def test_a_new_version_cannot_take_effect_in_the_past(
    store: Store, registry: Registry, tmp_path: Path
) -> None:
    _activate_first_version(store, registry)
    with pytest.raises(Conflict, match="in the past"):
        activate(
            store, registry, _doubled(tmp_path), effective=TODAY - timedelta(days=1), today=TODAY
        )


def test_the_command_line_records_who_activated_a_version_and_lists_it(
    settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"CANDOR_DATABASE_URL": settings.database_url}
    first = SAMPLE_RULEBOOKS / "rongcheng-personal.yaml"
    done = runner.invoke(
        app, ["rulebook", "activate", str(first), "--effective", "2017-05-01", "--json"], env=env
    )
    assert done.exit_code == 0, done.output
    later = (date.today() + timedelta(days=10)).isoformat()
    announced = runner.invoke(
        app, ["rulebook", "activate", str(_doubled(tmp_path)), "--effective", later], env=env
    )
    assert announced.exit_code == 0, announced.output

    listed = json.loads(runner.invoke(app, ["rulebook", "list", "--json"], env=env).stdout)
    operator = subject_reads.operator().name
    assert [
        (r["version"], r["activated_by"], r["in_force"], r["announced"])
        for r in listed["rulebooks"]
    ] == [("2026.3", operator, True, False), ("2027.1", operator, False, True)]
