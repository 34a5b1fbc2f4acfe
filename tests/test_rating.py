"""Rating end to end, through the services, on SQLite and PostgreSQL: the issue's acceptance
cases, computed by hand from real-rules.md."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from candor.domain.registry import Registry
from candor.services.checks import check
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rate_subject, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store.database import Store
from tests.helpers import record_object, resident_id

TODAY = date(2026, 11, 23)
PERSON = resident_id(1)
OTHER = resident_id(2)


@pytest.fixture
def deployment(
    store: Store, settings: Settings, registry: Registry
) -> tuple[Store, Settings, Registry]:
    for name in ("court-dishonest-debtors", "rongcheng-personal"):
        activate(
            store,
            registry,
            SAMPLE_RULEBOOKS / f"{name}.yaml",
            effective=date(2017, 5, 1),
            today=TODAY,
        )
    add_source(
        store, registry, "court", [t for t in registry.record_types if t.startswith("court.")]
    )
    add_source(store, registry, "everyone", list(registry.record_types))
    return store, settings, registry


def _ingest(
    deployment: tuple[Store, Settings, Registry], source: str, rows: list[dict[str, Any]]
) -> None:
    store, settings, registry = deployment
    result = ingest_objects(store, settings, registry, source, rows, today=TODAY)
    assert result.summary()["rejected"] == 0, result.summary()


def _check(
    deployment: tuple[Store, Settings, Registry], measure: str, on: date, who: str = PERSON
) -> dict[str, Any]:
    store, settings, registry = deployment
    hasher = load_secret(settings).identifier_hasher()
    answer = check(
        store,
        registry,
        hasher,
        f"cn_resident_id:{who}",
        measure,
        as_of=on,
        today=TODAY,
        client="test",
        purpose="ticket sale",
    )
    return answer.to_json()


FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}


def test_a_final_finding_restricts_flights_for_two_years(deployment: Any) -> None:
    _ingest(
        deployment,
        "court",
        [
            record_object(
                "f1", PERSON, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
            )
        ],
    )
    # The list warns 10 days ahead (Fa Shi [2017] No. 7, Art. 5); the 2-year term runs from then.
    during = _check(deployment, "no_air_travel", date(2025, 6, 1))
    assert (during["applies"], during["until"]) == (True, "2027-03-11")
    assert during["listing"] and during["how_to_object"]
    assert _check(deployment, "no_air_travel", date(2027, 3, 10))["applies"] is True
    assert _check(deployment, "no_air_travel", date(2027, 3, 11))["applies"] is False
    assert _check(deployment, "no_air_travel", date(2025, 3, 10))["applies"] is False  # warned
    assert _check(deployment, "no_air_travel", date(2025, 3, 11))["applies"] is True
    assert _check(deployment, "no_air_travel", date(2025, 2, 28))["applies"] is False
    assert _check(deployment, "no_air_travel", date(2025, 6, 1), who=OTHER)["applies"] is False


def test_an_aggravated_finding_is_listed_longer(deployment: Any) -> None:
    _ingest(
        deployment,
        "court",
        [
            record_object(
                "f1",
                PERSON,
                "court.dishonest_debtor_finding",
                "2025-03-01",
                attributes={**FINDING, "aggravated": True},
            )
        ],
    )
    assert _check(deployment, "no_air_travel", date(2025, 6, 1))["until"] == "2028-03-11"
    _ingest(
        deployment,
        "court",
        [
            record_object(
                "f2",
                OTHER,
                "court.dishonest_debtor_finding",
                "2025-03-01",
                attributes={**FINDING, "aggravated": True, "extension_years": 3},
            )
        ],
    )
    assert _check(deployment, "no_air_travel", date(2025, 6, 1), who=OTHER)["until"] == "2030-03-11"


def test_performing_the_obligation_ends_the_listing_from_its_date(deployment: Any) -> None:
    _ingest(
        deployment,
        "court",
        [
            record_object(
                "f1", PERSON, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
            ),
            record_object(
                "p1",
                PERSON,
                "court.obligation_performed",
                "2025-09-10",
                refers_to="f1",
                attributes={"case_no": FINDING["case_no"]},
            ),
        ],
    )
    # As of the day before, the obligation was not yet performed: the term still ran.
    before = _check(deployment, "no_air_travel", date(2025, 9, 9))
    assert (before["applies"], before["until"]) == (True, "2027-03-11")
    assert _check(deployment, "no_air_travel", date(2025, 9, 10))["applies"] is False


def test_a_finding_under_review_or_an_exception_does_not_list(deployment: Any) -> None:
    _ingest(
        deployment,
        "court",
        [
            record_object(
                "f1",
                PERSON,
                "court.dishonest_debtor_finding",
                "2025-03-01",
                status="under_review",
                attributes=FINDING,
            ),
            record_object(
                "f2",
                OTHER,
                "court.dishonest_debtor_finding",
                "2025-03-01",
                attributes={**FINDING, "ground": 1, "not_listed_because": "adequate_security"},
            ),
        ],
    )
    assert _check(deployment, "no_air_travel", date(2025, 6, 1))["applies"] is False
    assert _check(deployment, "no_air_travel", date(2025, 6, 1), who=OTHER)["applies"] is False


def test_rongcheng_scores_a_consenting_person_by_the_table(deployment: Any) -> None:
    store, _, registry = deployment
    _ingest(
        deployment,
        "everyone",
        [
            record_object("c1", PERSON, "consent.scoring_granted", "2026-01-05"),
            record_object(
                "k1", PERSON, "finance.card_overdue_cycle", "2026-03-01", attributes={"months": 3}
            ),
            record_object("u1", PERSON, "utility.theft", "2026-04-01"),
            record_object(
                "k2", OTHER, "finance.card_overdue_cycle", "2026-03-01", attributes={"months": 3}
            ),
        ],
    )
    hasher = load_secret(deployment[1]).identifier_hasher()
    subject = subject_id_for(store, hasher, f"cn_resident_id:{PERSON}", TODAY)
    assert subject is not None
    rulebooks, rows = rate_subject(store, registry, subject, as_of=TODAY)
    rongcheng = next(a.id for a in rulebooks if a.rulebook.rulebook == "rongcheng-personal")
    rating = next(r for r in rows.ratings if r["rulebook_id"] == rongcheng)
    assert (rating["score"], rating["grade"]) == (910, "B")
    lines = sorted((c["rule_id"], c["points"]) for c in rows.contributions)
    assert lines == [("overdue_card_cycle", -30), ("utility_theft", -60)]
    other = subject_id_for(store, hasher, f"cn_resident_id:{OTHER}", TODAY)
    assert other is not None
    _, rows = rate_subject(store, registry, other, as_of=TODAY)
    unscored = next(r for r in rows.ratings if r["rulebook_id"] == rongcheng)
    assert (unscored["consented"], unscored["score"], unscored["grade"]) == (0, None, None)


def test_drunk_driving_forces_grade_c_and_the_batch_agrees(deployment: Any) -> None:
    store, _, registry = deployment
    _ingest(
        deployment,
        "everyone",
        [
            record_object("c1", PERSON, "consent.scoring_granted", "2026-01-05"),
            record_object("d1", PERSON, "traffic.drunk_driving", "2026-02-01"),
            record_object("h1", PERSON, "civic.heroic_act", "2026-02-02"),
            record_object(
                "f1", OTHER, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
            ),
        ],
    )
    summary = rate_all(store, registry, as_of=TODAY, today=TODAY).to_json()
    assert summary["grades"] == {"C": 1}
    assert summary["not_scored"] == {"rongcheng-personal@2026.3": 1}
    assert summary["listings"] == {"dishonest_debtors": 1}
    # The reasons count scored subjects only: OTHER's records do not count without consent.
    reasons = summary["reasons"]["rongcheng-personal@2026.3"]
    assert {r["rule"]: (r["subjects"], r["points"]) for r in reasons}["heroic_act"] == (1, 30)
    # Stored by the batch, answered from the store.
    assert _check(deployment, "no_high_speed_rail", TODAY, who=OTHER)["applies"] is True
