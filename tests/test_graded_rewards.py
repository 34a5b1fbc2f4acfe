"""Rewards tied to grades (Rongcheng: cheaper winter heating, deposit-free bike rental for the
best grades): a check answers them from the subject's grade as of the date asked — single and
bulk, on SQLite and PostgreSQL — while lint refuses a penalty tied to a grade alone."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from candor.domain.registry import Registry
from candor.domain.rulebook import parse_rulebook
from candor.domain.rulebook_lint import Severity
from candor.errors import RulebookError
from candor.services import rating
from candor.services.checks import check, check_many
from candor.services.ingestion import ingest_objects
from candor.services.rulebook_lint import lint_text
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store.database import Store
from tests.helpers import record_object, resident_id

TODAY = date(2026, 11, 23)
BEST, GOOD, UNSCORED, UNKNOWN = (resident_id(n) for n in (11, 12, 13, 14))

RONGCHENG = SAMPLE_RULEBOOKS / "rongcheng-personal.yaml"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped Rongcheng rulebook with ``old`` replaced (once) by ``new``."""
    text = RONGCHENG.read_text(encoding="utf-8")
    assert old in text
    book = tmp_path / "rongcheng-variant.yaml"
    book.write_text(text.replace(old, new, 1), encoding="utf-8")
    return book


@pytest.fixture
def deployment(
    store: Store, settings: Settings, registry: Registry
) -> tuple[Store, Settings, Registry]:
    activate(store, registry, RONGCHENG, effective=date(2020, 1, 1), today=TODAY)
    add_source(store, registry, "city", list(registry.record_types))
    heroic = [
        record_object(f"h{i}", BEST, "civic.heroic_act", day)
        for i, day in enumerate(("2024-05-01", "2025-05-01"))
    ]
    rows = [
        record_object("c1", BEST, "consent.scoring_granted", "2024-01-02"),
        *heroic,  # 1000 + 60 = 1060: AAA, until the first ages out on 2027-05-01 (1030: AA)
        record_object("c2", GOOD, "consent.scoring_granted", "2024-01-02"),
        record_object("l2", GOOD, "utility.late_fees", "2026-02-01"),  # 980: A
        # No consent: no score, and so no incentive, however good the records.
        record_object("h3", UNSCORED, "civic.heroic_act", "2026-02-01"),
    ]
    result = ingest_objects(store, settings, registry, "city", rows, today=TODAY)
    assert result.summary()["rejected"] == 0, result.summary()
    return store, settings, registry


def _single(deployment: Any, who: str, on: date) -> dict[str, Any]:
    store, settings, registry = deployment
    return check(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        f"cn_resident_id:{who}",
        "cheaper_winter_heating",
        as_of=on,
        today=TODAY,
        client="heating-company",
        purpose="winter tariff",
    ).to_json()


def _bulk(deployment: Any, on: date) -> list[bool]:
    store, settings, registry = deployment
    answer = check_many(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        [f"cn_resident_id:{who}" for who in (BEST, GOOD, UNSCORED, UNKNOWN)],
        "cheaper_winter_heating",
        as_of=on,
        today=TODAY,
        client="heating-company",
        purpose="winter tariff",
    )
    return [a["applies"] for a in answer.answers]


def test_a_high_grade_earns_the_reward_and_the_answer_says_nothing_else(
    deployment: Any,
) -> None:
    best = _single(deployment, BEST, TODAY)
    assert best["applies"] is True
    assert (best["listing"], best["until"], best["how_to_object"]) == (None, None, None)
    assert _single(deployment, GOOD, TODAY)["applies"] is False
    assert _single(deployment, UNSCORED, TODAY)["applies"] is False
    assert _single(deployment, UNKNOWN, TODAY)["applies"] is False


def test_the_grade_is_the_one_of_the_date_asked(deployment: Any) -> None:
    # 2025-04-30: one heroic act counts (1030, AA); 2027-05-01: the first has aged out (1030,
    # AA); 2028-05-01: both have (1000, A) — the reward ends with the grade.
    assert _single(deployment, BEST, date(2024, 4, 30))["applies"] is False  # 1000: A
    assert _single(deployment, BEST, date(2025, 4, 30))["applies"] is True
    assert _single(deployment, BEST, date(2027, 5, 1))["applies"] is True
    assert _single(deployment, BEST, date(2028, 5, 1))["applies"] is False


@pytest.mark.parametrize("one_by_one", [500, 0], ids=["in-store", "batch"])
def test_a_bulk_check_answers_as_the_single_checks_do(
    deployment: Any, monkeypatch: pytest.MonkeyPatch, one_by_one: int
) -> None:
    monkeypatch.setattr(rating, "_ONE_BY_ONE", one_by_one)
    assert _bulk(deployment, TODAY) == [True, False, False, False]
    assert _bulk(deployment, date(2028, 5, 1)) == [False, False, False, False]


def test_a_penalty_tied_to_a_grade_is_refused_by_lint_and_activation(
    store: Store, registry: Registry, tmp_path: Path
) -> None:
    book = _variant(tmp_path, "kind: reward", "kind: penalty")  # cheaper_winter_heating
    rulebook, findings = lint_text(book.read_text(encoding="utf-8"), str(book), registry)
    assert rulebook is not None
    [refused] = [f for f in findings if f.severity is Severity.ERROR]
    assert (refused.code, refused.path) == (
        "grade-penalty",
        "measures.cheaper_winter_heating.grades",
    )
    with pytest.raises(
        RulebookError, match=r"measures.cheaper_winter_heating.grades: .*\[grade-penalty\]"
    ):
        activate(store, registry, book, effective=TODAY, today=TODAY)


def test_a_measure_names_lists_or_grades_and_only_grades_of_its_bands(tmp_path: Path) -> None:
    unknown = _variant(tmp_path, "grades: [AAA, AA]", "grades: [S]")
    with pytest.raises(RulebookError, match="grade S is not one of the bands"):
        parse_rulebook(unknown.read_text(encoding="utf-8"), origin="x")
    neither = _variant(tmp_path, "    grades: [AAA, AA]\n", "")
    with pytest.raises(RulebookError, match=r"give imposed_by .* or grades"):
        parse_rulebook(neither.read_text(encoding="utf-8"), origin="x")
