"""The market regulator's lists and credit repair, as published (real-rules.md, section 3): the
SAMR serious-dishonesty rulebook and the credit-repair rulebook, each case computed by hand and
rated by both engines (the one-subject plan in the store, the batch plan on DuckDB), on SQLite
and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from candor.domain.access import Principal, Role
from candor.domain.registry import Registry
from candor.domain.repair import possible_from
from candor.engine.execute import run_batch
from candor.errors import Conflict
from candor.services import repair
from candor.services.checks import check
from candor.services.clients import add_client
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rate_subject, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate, governing, plan_for
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import export
from candor.store.database import Store
from candor.store.ratings import watermark
from candor.store.tables import listings
from tests.helpers import record_object, uscc

TODAY = date(2026, 11, 23)
SAMR = "samr-serious-dishonesty"
REPAIR = "credit-repair"


@dataclass(frozen=True)
class World:
    store: Store
    settings: Settings
    registry: Registry

    def ingest(self, rows: list[dict[str, Any]]) -> None:
        result = ingest_objects(
            self.store, self.settings, self.registry, "regulator", rows, today=TODAY
        )
        assert result.summary()["rejected"] == 0, result.summary()

    def subject(self, seq: int) -> int:
        hasher = load_secret(self.settings).identifier_hasher()
        found = subject_id_for(self.store, hasher, f"cn_uscc:{uscc(seq)}", TODAY)
        assert found is not None
        return found

    def listings(self, seq: int, as_of: date) -> dict[str, dict[str, Any]]:
        """The organisation's listings as of ``as_of`` by list: as the one-subject plan rates
        them in the store — after checking that the batch plan on DuckDB rates them alike."""
        subject = self.subject(seq)
        rulebooks, rows = rate_subject(self.store, self.registry, subject, as_of=as_of)
        plan = plan_for(rulebooks, self.registry, one_subject=False)
        types = sorted(set().union(*(a.rulebook.record_types() for a in rulebooks)))
        with self.store.read() as conn:
            through = watermark(conn)
        batch = run_batch(
            plan,
            export.records_from_store(self.store, types, as_of, through),
            export.subjects(self.store),
            as_of,
        )["listings"].to_pylist()
        keep = ("list_name", "criterion", "starts_on", "ends_on", "removed_on")
        mine = sorted(
            (tuple(r[k] for k in keep) for r in batch if r["subject_id"] == subject), key=str
        )
        assert mine == sorted((tuple(r[k] for k in keep) for r in rows.listings), key=str)
        return {r["list_name"]: r for r in rows.listings}

    def applies(self, seq: int, measure: str, on: date) -> bool:
        return check(
            self.store,
            self.registry,
            load_secret(self.settings).identifier_hasher(),
            f"cn_uscc:{uscc(seq)}",
            measure,
            as_of=on,
            today=TODAY,
            client="inspector",
            purpose="inspection plan",
        ).applies


@pytest.fixture
def world(store: Store, settings: Settings, registry: Registry) -> World:
    for name in (SAMR, REPAIR):
        activate(
            store,
            registry,
            SAMPLE_RULEBOOKS / f"{name}.yaml",
            effective=date(2019, 7, 1),
            today=TODAY,
        )
    add_source(store, registry, "regulator", list(registry.record_types))
    add_client(
        store,
        "inspector",
        Role.RELYING_PARTY,
        measures=["intensified_inspection", "no_regulator_honours"],
        purposes=["inspection plan"],
    )
    return World(store, settings, registry)


def org(srid: str, seq: int, record_type: str, decided: str, **extra: Any) -> dict[str, Any]:
    return record_object(
        srid,
        uscc(seq),
        record_type,
        decided,
        identifier_scheme="cn_uscc",
        name="某某贸易有限公司",
        **extra,
    )


def penalty(srid: str, seq: int, decided: str, severity: str, area: str) -> dict[str, Any]:
    return org(
        srid,
        seq,
        "market.admin_penalty",
        decided,
        attributes={"severity": severity, "area": area, "amount": 50000},
    )


# --- SAMR: the serious-dishonesty list ---------------------------------------------------------


def test_a_heavier_penalty_lists_after_the_warning_for_three_years(world: World) -> None:
    world.ingest(
        [
            penalty("p1", 1, "2024-03-01", "heavy", "general"),
            penalty("p2", 2, "2024-03-01", "ordinary", "general"),
        ]
    )
    listed = world.listings(1, TODAY)["serious_dishonesty"]
    # Decided 1 March 2024; warned 10 days; 3 years from 11 March 2024.
    assert (listed["criterion"], listed["starts_on"], listed["ends_on"]) == (
        0,
        date(2024, 3, 11),
        date(2027, 3, 11),
    )
    assert world.applies(1, "intensified_inspection", date(2024, 3, 10)) is False
    assert world.applies(1, "intensified_inspection", date(2024, 3, 11)) is True
    assert world.applies(1, "no_regulator_honours", date(2027, 3, 10)) is True
    assert world.applies(1, "no_regulator_honours", date(2027, 3, 11)) is False
    # An ordinary penalty is no ground for the serious list.
    assert "serious_dishonesty" not in world.listings(2, TODAY)
    assert world.applies(2, "intensified_inspection", TODAY) is False


def test_three_years_on_the_abnormal_list_uncorrected_moves_to_the_serious_list(
    world: World,
) -> None:
    world.ingest(
        [
            org("a1", 1, "market.abnormal_operations", "2022-06-15"),
            # Corrected one day before the 3 years had run: it never moves.
            org("a2", 2, "market.abnormal_operations", "2022-06-15"),
            org("c2", 2, "market.abnormal_operations_cleared", "2025-06-14", refers_to="a2"),
            # Corrected on the day the 3 years had run: too late, it moved.
            org("a3", 3, "market.abnormal_operations", "2022-06-15"),
            org("c3", 3, "market.abnormal_operations_cleared", "2025-06-15", refers_to="a3"),
        ]
    )
    # On 14 June 2025 the record has stood 3 years less a day: abnormal list only.
    before = world.listings(1, date(2025, 6, 14))
    assert set(before) == {"abnormal_operations"}
    assert before["abnormal_operations"]["starts_on"] == date(2022, 6, 25)
    assert before["abnormal_operations"]["ends_on"] == date(2025, 6, 25)
    # On 15 June 2025 it has stood 3 years: the move is on record, warned 10 days ahead.
    moved = world.listings(1, date(2025, 6, 15))["serious_dishonesty"]
    assert (moved["criterion"], moved["starts_on"], moved["ends_on"]) == (
        1,
        date(2025, 6, 25),
        date(2028, 6, 25),
    )
    assert world.applies(1, "intensified_inspection", date(2025, 6, 24)) is False
    assert world.applies(1, "intensified_inspection", date(2025, 6, 25)) is True
    assert world.applies(1, "intensified_inspection", TODAY) is True

    corrected = world.listings(2, TODAY)
    assert "serious_dishonesty" not in corrected
    assert corrected["abnormal_operations"]["removed_on"] == date(2025, 6, 14)
    assert world.applies(2, "intensified_inspection", TODAY) is False

    late = world.listings(3, TODAY)
    assert late["serious_dishonesty"]["starts_on"] == date(2025, 6, 25)
    assert late["abnormal_operations"]["removed_on"] == date(2025, 6, 15)
    assert world.applies(3, "intensified_inspection", TODAY) is True


def test_removal_from_the_serious_list_may_be_requested_after_a_year(world: World) -> None:
    world.ingest([penalty("p1", 1, "2025-06-01", "heavy", "general")])
    listed = world.listings(1, TODAY)["serious_dishonesty"]
    spec = governing(world.store, TODAY)
    samr = next(a.rulebook for a in spec if a.rulebook.rulebook == SAMR)
    serious = samr.lists["serious_dishonesty"]
    # Listed from 11 June 2025 (after the warning): at least a year before applying.
    assert possible_from(serious, listed["criterion"], listed["starts_on"]) == date(2026, 6, 11)
    world.ingest(
        [
            org(
                "r1",
                1,
                "credit.repair_approved",
                "2026-07-01",
                refers_to="p1",
                attributes={"list": "serious_dishonesty", "application": "RP-1"},
            )
        ]
    )
    assert world.listings(1, TODAY)["serious_dishonesty"]["removed_on"] == date(2026, 7, 1)
    assert world.applies(1, "intensified_inspection", date(2026, 6, 30)) is True
    assert world.applies(1, "intensified_inspection", date(2026, 7, 1)) is False


# --- credit repair: publicity periods ----------------------------------------------------------

# Decided 15 January 2025; publication stops on 15 January 2028 whatever the kind.
DECIDED = "2025-01-15"
# (severity, area) → the first day early removal may be requested, computed by hand.
PUBLICITY = {
    ("ordinary", "general"): date(2025, 4, 15),  # 3 months
    ("heavy", "general"): date(2025, 7, 15),  # 6 months
    ("ordinary", "fire_safety"): date(2026, 1, 15),  # 1 year
    ("ordinary", "special_equipment"): date(2026, 1, 15),
    ("ordinary", "work_safety"): date(2026, 1, 15),
    ("heavy", "work_safety"): date(2026, 1, 15),  # 6 months and 1 year: the longest
}


def test_each_kind_of_penalty_is_public_for_its_minimum_and_at_most_three_years(
    world: World,
) -> None:
    world.ingest(
        [
            penalty(f"p{seq}", seq, DECIDED, severity, area)
            for seq, (severity, area) in enumerate(PUBLICITY, start=1)
        ]
    )
    rulebook = next(
        a.rulebook for a in governing(world.store, TODAY) if a.rulebook.rulebook == REPAIR
    )
    spec = rulebook.lists["penalty_publicity"]
    for seq, opens in enumerate(PUBLICITY.values(), start=1):
        listed = world.listings(seq, TODAY)["penalty_publicity"]
        # No advance warning: the clock starts at the decision date.
        assert (listed["starts_on"], listed["ends_on"]) == (date(2025, 1, 15), date(2028, 1, 15))
        assert possible_from(spec, listed["criterion"], listed["starts_on"]) == opens, seq
    # Publication stops automatically at the maximum.
    assert "penalty_publicity" in world.listings(1, date(2028, 1, 14))
    ended = world.listings(1, date(2028, 1, 15))["penalty_publicity"]
    assert ended["ends_on"] == date(2028, 1, 15)


def test_the_longest_period_wins_only_because_the_rulebook_says_so(
    world: World, tmp_path: Path
) -> None:
    """The same rulebook with ``when_several: first`` takes the first entry a heavier
    work-safety penalty meets (6 months): the longest period is the rule's, not the engine's."""
    text = (SAMPLE_RULEBOOKS / f"{REPAIR}.yaml").read_text(encoding="utf-8")
    first = text.replace("when_several: longest", "when_several: first").replace(
        'version: "2019.1"', 'version: "2019.1-first"'
    )
    assert first != text
    book = tmp_path / "first.yaml"
    book.write_text(first, encoding="utf-8")
    activate(world.store, world.registry, book, effective=TODAY, today=TODAY)
    world.ingest([penalty("p1", 1, DECIDED, "heavy", "work_safety")])
    rulebook = next(
        a.rulebook for a in governing(world.store, TODAY) if a.rulebook.rulebook == REPAIR
    )
    assert rulebook.version == "2019.1-first"
    spec = rulebook.lists["penalty_publicity"]
    listed = world.listings(1, TODAY)["penalty_publicity"]
    assert listed["criterion"] == 1
    assert possible_from(spec, listed["criterion"], listed["starts_on"]) == date(2025, 7, 15)


def test_an_application_before_the_entrys_minimum_is_refused_naming_the_day(
    world: World,
) -> None:
    world.ingest(
        [
            penalty("p1", 1, "2026-05-01", "ordinary", "general"),
            penalty("p2", 2, "2026-05-01", "ordinary", "fire_safety"),
        ]
    )
    rate_all(world.store, world.registry, as_of=TODAY, today=TODAY)

    def apply(seq: int) -> dict[str, Any]:
        subject = world.subject(seq)
        with world.store.read() as conn:
            ref = conn.execute(
                sa.select(listings.c.ref).where(
                    listings.c.subject_id == subject, listings.c.list_name == "penalty_publicity"
                )
            ).scalar_one()
        return repair.apply(
            world.store,
            world.settings,
            Principal(name="officer-li", role=Role.OFFICER),
            subject,
            listing=ref,
            statement="The fine is paid and the shop corrected.",
            today=TODAY,
        )

    # Ordinary: 3 months from 1 May 2026 have run by 23 November.
    assert apply(1)["state"] == "filed"
    # Fire safety: a year, so not before 1 May 2027.
    with pytest.raises(
        Conflict, match=r"possible from 2027-05-01: the minimum publicity period of 1 year"
    ):
        apply(2)
