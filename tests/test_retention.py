"""Retention and erasure by crypto-shredding: personal data is sealed under per-subject keys,
erased when its record type's retention ends (or on an officer's order), unreadable afterwards
even with the deployment secret — and the ledger still verifies, and still catches tampering."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.access import Principal, Role
from candor.domain.ledger import RECORD_ERASED, read_entry
from candor.domain.registry import Registry, Retention, RetentionStart, parse_registry
from candor.domain.retention import add_years, listing_end, retention_ends
from candor.domain.sealing import Unopenable
from candor.errors import Forbidden, InvalidInput, RulebookError
from candor.services import ledger, retention
from candor.services.data_keys import DataKeys, open_personal
from candor.services.ingestion import ingest_objects
from candor.services.objections import decide, file_objection, take
from candor.services.rating import rate_all, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.services.subject_file import subject_file
from candor.settings import Settings
from candor.store import Store
from candor.store.tables import erasures, ledger_entries, listings, records, subject_keys
from tests.conftest import TODAY
from tests.helpers import record_object, resident_id

OLD, LISTED_ONCE, LISTED_NOW, QUIET = (
    resident_id(11),
    resident_id(12),
    resident_id(13),
    resident_id(14),
)
NAMES = {OLD: "欧阳娜娜", LISTED_ONCE: "司马相如", LISTED_NOW: "Zhang Sanfeng", QUIET: "李四"}
FINDING = {"case_no": "(2018)京0105执7号", "ground": 2}
OFFICER = Principal(name="officer-li", role=Role.OFFICER)
SAMPLE_REGISTRY = Path(__file__).resolve().parent.parent / "src/candor/resources/record-types.yaml"


def _registry(change: dict[str, Any]) -> Registry:
    """The sample registry with top-level keys replaced and record types changed."""
    doc = yaml.safe_load(SAMPLE_REGISTRY.read_text(encoding="utf-8"))
    for name, fields in change.pop("record_types", {}).items():
        doc["record_types"][name].update(fields)
    doc.update(change)
    return parse_registry(yaml.safe_dump(doc, allow_unicode=True), origin="test")


def _person(who: str, srid: str, record_type: str, decided: str, **extra: Any) -> dict[str, Any]:
    return record_object(srid, who, record_type, decided, name=NAMES[who], **extra)


WORLD = [
    _person(OLD, "old", "utility.late_fees", "2018-04-01", attributes={"amount": "3"}),
    _person(
        LISTED_ONCE, "f-old", "court.dishonest_debtor_finding", "2018-06-01", attributes=FINDING
    ),
    _person(LISTED_ONCE, "u-recent", "utility.late_fees", "2025-04-01"),
    _person(
        LISTED_NOW, "f-new", "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
    ),
    _person(QUIET, "q", "utility.late_fees", "2024-01-10"),
]


def _world(store: Store, settings: Settings, registry: Registry) -> None:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )
    add_source(store, registry, "court", list(registry.record_types))
    done = ingest_objects(store, settings, registry, "court", WORLD, today=TODAY)
    assert (done.accepted, done.rejected) == (len(WORLD), 0)
    rate_all(store, registry, as_of=TODAY, today=TODAY)


@pytest.fixture
def world(store: Store, settings: Settings, registry: Registry) -> Store:
    _world(store, settings, registry)
    return store


def _record(store: Store, srid: str) -> dict[str, Any]:
    with store.read() as conn:
        return dict(
            conn.execute(sa.select(records).where(records.c.source_record_id == srid))
            .one()
            ._mapping
        )


def _subject(settings: Settings, store: Store, who: str) -> int:
    found = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{who}", TODAY
    )
    assert found is not None
    return found


def _name_in_file(store: Store, settings: Settings, registry: Registry, who: str, srid: str) -> Any:
    doc = subject_file(
        store,
        registry,
        load_secret(settings),
        OFFICER,
        _subject(settings, store, who),
        as_of=TODAY,
        purpose="retention test",
    ).to_json()
    [found] = [r for r in doc["records"] if r["source_record_id"] == srid]
    assert "sealed" not in found
    return found["name"]


def _opens(store: Store, settings: Settings, row: dict[str, Any]) -> str:
    """The name a stored record's sealed data holds, opened with the deployment secret and the
    subject's key as the store holds it now."""
    with store.read() as conn:
        keys = DataKeys(load_secret(settings)).for_opening(conn, [row["subject_id"]])
    personal = open_personal(keys, row)
    assert personal is not None
    return personal.name


def _verified(store: Store, settings: Settings) -> ledger.Verification:
    ledger.head(store, load_secret(settings))
    return ledger.verify(store, load_secret(settings))


def _size(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(ledger_entries)).scalar_one()
        )


def test_names_are_sealed_under_the_subjects_key_never_kept_in_the_clear(
    world: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    row = _record(world, "old")
    assert row["name"] == "" and row["sealed"] is not None and row["erased_on"] is None
    assert _opens(world, settings, row) == NAMES[OLD]
    assert _name_in_file(world, settings, registry, OLD, "old") == NAMES[OLD]
    # A blob is bound to its record: moved onto another record of the same subject, it does
    # not open.
    other = _record(world, "f-old")
    with pytest.raises(Unopenable):
        _opens(world, settings, {**other, "sealed": _record(world, "u-recent")["sealed"]})
    if world.dialect == "sqlite":  # no name anywhere in the store's files (its mirror too)
        path = Path(sa.make_url(settings.database_url).database or "")
        stored = b"".join(p.read_bytes() for p in path.parent.rglob("*") if p.is_file())
        for name in NAMES.values():
            assert name.encode() not in stored


def test_expiry_erases_what_is_past_retention_and_the_ledger_still_verifies(
    world: Store, settings: Settings, registry: Registry
) -> None:
    before = {srid: _record(world, srid) for srid in ("old", "f-old", "u-recent", "f-new", "q")}
    subject_old = before["old"]["subject_id"]
    with world.read() as conn:
        wrapped = conn.execute(
            sa.select(subject_keys.c.wrapped).where(subject_keys.c.subject_id == subject_old)
        ).scalar_one()
    assert wrapped is not None

    done = retention.expire(world, registry, as_of=TODAY, today=TODAY)

    # Sample retention: five years after the listing ends, or the decision without one.
    assert (done.erased, done.keys_shredded) == (2, 1), done
    after = {srid: _record(world, srid) for srid in before}
    for srid in ("old", "f-old"):
        assert (after[srid]["sealed"], after[srid]["name"]) == (None, "")
        assert after[srid]["erased_on"] == TODAY
        # The record itself stays, as it rates and lists.
        for column in ("record_type", "decided_on", "legal_basis", "status", "attributes"):
            assert after[srid][column] == before[srid][column]
    for srid in ("u-recent", "f-new", "q"):
        assert after[srid] == before[srid]
    # Unreadable: the subject's key is gone, and the blob saved before cannot be opened with
    # the deployment secret and everything the store now holds.
    with world.read() as conn:
        key_row = conn.execute(
            sa.select(subject_keys).where(subject_keys.c.subject_id == subject_old)
        ).one()
    assert key_row.wrapped is None and key_row.shredded_at is not None
    with pytest.raises(Unopenable):
        _opens(world, settings, before["old"])
    # A subject with sealed data left keeps its key: its other records stay readable.
    assert _opens(world, settings, after["u-recent"]) == NAMES[LISTED_ONCE]

    found = _verified(world, settings)
    assert found.ok, found.problems
    with world.read() as conn:
        entries = conn.execute(
            sa.select(ledger_entries.c.object_id, ledger_entries.c.data).where(
                ledger_entries.c.kind == RECORD_ERASED
            )
        ).all()
    assert sorted(e.object_id for e in entries) == sorted(after[s]["id"] for s in ("old", "f-old"))
    assert {read_entry(e.data)["detail"]["cause"] for e in entries} == {"retention"}
    assert _name_in_file(world, settings, registry, OLD, "old") == f"[erased on {TODAY}]"
    assert _name_in_file(world, settings, registry, LISTED_ONCE, "u-recent") == NAMES[LISTED_ONCE]

    # Again: nothing left to do, nothing changes.
    size = _size(world)
    again = retention.expire(world, registry, as_of=TODAY, today=TODAY + timedelta(days=1))
    assert (again.erased, again.keys_shredded) == (0, 0)
    assert _size(world) == size
    assert _record(world, "old")["erased_on"] == TODAY


def test_an_expiry_stopped_half_way_is_finished_by_the_next_run(
    store: Store, settings: Settings
) -> None:
    at_once = _registry({"retention": {"years": 0, "after": "decision"}})
    _world(store, settings, at_once)

    def stop(done: retention.Expiry) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # after its first chunk of one record committed
        retention.expire(store, at_once, as_of=TODAY, today=TODAY, chunk=1, on_progress=stop)
    assert [s for s in ("old", "f-old", "u-recent", "q") if _record(store, s)["sealed"]] == [
        "f-old",
        "u-recent",
        "q",
    ]
    assert _verified(store, settings).ok
    rest = retention.expire(store, at_once, as_of=TODAY, today=TODAY, chunk=2)
    assert rest.erased == 3
    assert [s for s in ("old", "f-old", "u-recent", "q") if _record(store, s)["sealed"]] == []
    assert _verified(store, settings).ok


def test_candor_ledger_verify_passes_after_expiry_and_fails_on_tampering(
    world: Store, settings: Settings, registry: Registry
) -> None:
    saved = _record(world, "old")["sealed"]
    retention.expire(world, registry, as_of=TODAY, today=TODAY)
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    runner = CliRunner()
    good = runner.invoke(app, ["ledger", "verify", "--json"], env=env)
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["ok"] is True

    # Putting the erased ciphertext back is a change like any other.
    erased_id = _record(world, "old")["id"]
    with world.write() as conn:
        conn.execute(sa.update(records).where(records.c.id == erased_id).values(sealed=saved))
        leaf = conn.execute(
            sa.select(sa.func.max(ledger_entries.c.leaf_index)).where(
                ledger_entries.c.object_table == "records", ledger_entries.c.object_id == erased_id
            )
        ).scalar_one()
    bad = runner.invoke(app, ["ledger", "verify", "--json"], env=env)
    assert bad.exit_code == 1
    [problem] = json.loads(bad.stdout)["problems"]
    assert f"entry {leaf} (record.erased, records id {erased_id})" in problem
    assert "no longer matches" in problem


def test_a_record_behind_a_listing_in_force_is_never_erased(
    store: Store, settings: Settings
) -> None:
    # Erase at once after the decision — except what a listing in force still relies on.
    at_once = _registry({"retention": {"years": 0, "after": "decision"}})
    _world(store, settings, at_once)
    done = retention.expire(store, at_once, as_of=TODAY, today=TODAY)
    assert done.held_by_listings == 1
    assert _record(store, "f-new")["sealed"] is not None  # listed until 2027
    assert [s for s in ("old", "f-old", "u-recent", "q") if _record(store, s)["sealed"]] == []
    assert _opens(store, settings, _record(store, "f-new")) == NAMES[LISTED_NOW]
    assert _verified(store, settings).ok


def test_listing_end_counts_from_the_end_of_the_listing(
    world: Store, settings: Settings, registry: Registry
) -> None:
    finding = _record(world, "f-old")
    with world.read() as conn:
        [listing] = [
            dict(r._mapping)
            for r in conn.execute(sa.select(listings).where(listings.c.record_id == finding["id"]))
        ]
    ended = listing_end(listing)
    assert ended is not None and ended > finding["decided_on"]
    due = add_years(ended, 5)
    assert add_years(finding["decided_on"], 5) < due - timedelta(days=1) <= TODAY

    kept = retention.expire(world, registry, as_of=due - timedelta(days=1), today=TODAY)
    assert _record(world, "f-old")["sealed"] is not None
    assert kept.erased == 1  # only "old", never listed: five years after its decision

    erased = retention.expire(world, registry, as_of=due, today=TODAY)
    assert erased.erased == 1 and _record(world, "f-old")["sealed"] is None
    assert _verified(world, settings).ok


def test_counting_from_the_decision_still_waits_for_the_listing_to_end(
    store: Store, settings: Settings
) -> None:
    by_decision = _registry({"retention": {"years": 5, "after": "decision"}})
    _world(store, settings, by_decision)
    finding = _record(store, "f-old")
    day = add_years(finding["decided_on"], 5)
    retention.expire(store, by_decision, as_of=day - timedelta(days=1), today=TODAY)
    assert _record(store, "f-old")["sealed"] is not None
    retention.expire(store, by_decision, as_of=day, today=TODAY)
    assert _record(store, "f-old")["sealed"] is None


def test_an_officer_erases_one_subject_at_once(
    world: Store, settings: Settings, registry: Registry
) -> None:
    subject = _subject(settings, world, LISTED_ONCE)
    saved = _record(world, "u-recent")
    with pytest.raises(Forbidden):
        retention.erase_subject(
            world, Principal("reviewer", Role.REVIEWER), subject, reason="x", today=TODAY
        )
    with pytest.raises(InvalidInput, match="reason"):
        retention.erase_subject(world, OFFICER, subject, reason="  ", today=TODAY)

    done = retention.erase_subject(
        world, OFFICER, subject, reason="Court order (2026) Jing 01 No. 5", today=TODAY
    )

    assert (done.erased, done.key_shredded) == (2, True)
    assert [_record(world, s)["sealed"] for s in ("f-old", "u-recent")] == [None, None]
    with pytest.raises(Unopenable):
        _opens(world, settings, saved)
    with world.read() as conn:
        row = conn.execute(sa.select(erasures).where(erasures.c.id == done.id)).one()
        details = [
            read_entry(d)["detail"]
            for d in conn.execute(
                sa.select(ledger_entries.c.data).where(ledger_entries.c.kind == RECORD_ERASED)
            ).scalars()
        ]
    assert (row.subject_id, row.requested_by, row.records) == (subject, "officer-li", 2)
    assert row.reason.startswith("Court order")
    # The ledger names the erasure, not its reason (the ledger can never forget).
    assert details == [{"cause": "erasure", "erasure": done.id}] * 2
    assert _verified(world, settings).ok
    assert _name_in_file(world, settings, registry, LISTED_ONCE, "f-old") == f"[erased on {TODAY}]"

    # A record about the subject sent later is sealed under a new key; the old data stays
    # unreadable.
    later = _person(LISTED_ONCE, "later", "utility.late_fees", "2026-05-01")
    assert ingest_objects(world, settings, registry, "court", [later], today=TODAY).accepted == 1
    assert _opens(world, settings, _record(world, "later")) == NAMES[LISTED_ONCE]
    with pytest.raises(Unopenable):
        _opens(world, settings, saved)
    # Resent as it was, an erased record is a duplicate (what candor no longer holds cannot
    # differ); changed in what it still holds, it is refused.
    again = ingest_objects(world, settings, registry, "court", [WORLD[2]], today=TODAY)
    assert (again.duplicates, again.rejected) == (1, 0)
    changed = {**WORLD[2], "legal_basis": "another"}
    assert ingest_objects(world, settings, registry, "court", [changed], today=TODAY).rejected == 1
    assert _verified(world, settings).ok


def test_resubmissions_compare_with_the_sealed_name(
    world: Store, settings: Settings, registry: Registry
) -> None:
    same = ingest_objects(world, settings, registry, "court", [WORLD[0]], today=TODAY)
    assert (same.duplicates, same.rejected) == (1, 0)
    renamed = {**WORLD[0], "name": "someone else"}
    other = ingest_objects(world, settings, registry, "court", [renamed], today=TODAY)
    assert (other.duplicates, other.rejected) == (0, 1)


def test_candor_retention_expire_and_erase(
    world: Store, settings: Settings, registry: Registry
) -> None:
    # The command erases as of the real today: a record decided today is kept whenever it runs.
    today = date.today()
    fresh = record_object("fresh", resident_id(15), "utility.late_fees", today.isoformat())
    assert ingest_objects(world, settings, registry, "court", [fresh], today=today).accepted == 1
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    runner = CliRunner()
    future = runner.invoke(
        app, ["retention", "expire", "--as-of", (today + timedelta(days=1)).isoformat()], env=env
    )
    assert future.exit_code == 1 and "before its retention ends" in future.output
    done = runner.invoke(app, ["retention", "expire", "--json"], env=env)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["erased"] >= 2 and report["keys_shredded"] >= 1
    assert report["no_retention"] == []
    assert _record(world, "old")["erased_on"] == _record(world, "f-old")["erased_on"] == today
    assert _record(world, "fresh")["sealed"] is not None

    erased = runner.invoke(
        app,
        ["retention", "erase", f"cn_resident_id:{resident_id(15)}", "--reason", "Lawful request"],
        env=env,
    )
    assert erased.exit_code == 0, erased.output
    assert "1 record(s) erased, data key shredded" in erased.stdout
    assert _record(world, "fresh")["sealed"] is None
    unknown = runner.invoke(
        app, ["retention", "erase", f"cn_resident_id:{resident_id(99)}", "--reason", "x"], env=env
    )
    assert unknown.exit_code == 1
    assert runner.invoke(app, ["ledger", "verify"], env=env).exit_code == 0


def test_an_upheld_objections_correction_keeps_the_name_sealed(
    world: Store, settings: Settings, registry: Registry
) -> None:
    subject = _subject(settings, world, LISTED_NOW)
    filed = file_objection(
        world,
        settings,
        OFFICER,
        subject,
        about="record",
        target=str(_record(world, "f-new")["id"]),
        statement="Paid before the finding.",
        attachments=[],
        today=TODAY,
    )
    reviewer = Principal("reviewer-wang", Role.REVIEWER)
    take(world, reviewer, filed["ref"])
    decided = decide(
        world,
        registry,
        settings,
        reviewer,
        filed["ref"],
        decision="upheld",
        reasons="Paid.",
        today=TODAY,
    )
    with world.read() as conn:
        correction = dict(
            conn.execute(sa.select(records).where(records.c.id == decided["correction_record_id"]))
            .one()
            ._mapping
        )
    assert correction["name"] == "" and correction["sealed"] != _record(world, "f-new")["sealed"]
    assert _opens(world, settings, correction) == NAMES[LISTED_NOW]
    assert _verified(world, settings).ok


def test_personal_attributes_are_sealed_erased_and_never_rated(
    store: Store, settings: Settings
) -> None:
    def personal(attribute: str) -> Registry:
        spec = yaml.safe_load(SAMPLE_REGISTRY.read_text(encoding="utf-8"))["record_types"][
            "court.dishonest_debtor_finding"
        ]["attributes"]
        spec[attribute]["personal"] = True
        return _registry({"record_types": {"court.dishonest_debtor_finding": {"attributes": spec}}})

    # No rule may read a personal attribute: the sample rulebook's exceptions read this one.
    with pytest.raises(RulebookError, match="personal attribute"):
        activate(
            store,
            personal("not_listed_because"),
            SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
            effective=date(2017, 5, 1),
            today=TODAY,
        )
    sealed_case = personal("case_no")
    _world(store, settings, sealed_case)
    stored = _record(store, "f-old")
    assert stored["attributes"] == {"ground": 2}
    with store.read() as conn:
        keys = DataKeys(load_secret(settings)).for_opening(conn, [stored["subject_id"]])
    opened = open_personal(keys, stored)
    assert opened is not None
    assert (opened.name, opened.attributes) == (NAMES[LISTED_ONCE], {"case_no": FINDING["case_no"]})
    doc = subject_file(
        store,
        sealed_case,
        load_secret(settings),
        OFFICER,
        stored["subject_id"],
        as_of=TODAY,
        purpose="t",
    ).to_json()
    [shown] = [r for r in doc["records"] if r["source_record_id"] == "f-old"]
    assert shown["attributes"] == FINDING
    again = ingest_objects(store, settings, sealed_case, "court", [WORLD[1]], today=TODAY)
    assert again.duplicates == 1
    moved = {**WORLD[1], "attributes": {**FINDING, "case_no": "(2018)京0105执8号"}}
    assert ingest_objects(store, settings, sealed_case, "court", [moved], today=TODAY).rejected == 1

    retention.expire(store, sealed_case, as_of=TODAY, today=TODAY)
    erased = _record(store, "f-old")
    assert (erased["sealed"], erased["attributes"]) == (None, {"ground": 2})
    assert _verified(store, settings).ok


# --- the rule itself ---------------------------------------------------------------------------

FIVE_AFTER_LISTING = Retention(years=5, after=RetentionStart.LISTING_END)
FIVE_AFTER_DECISION = Retention(years=5, after=RetentionStart.DECISION)


def _listing(
    ends: date | None, removed: date | None = None, withdrawn: date | None = None
) -> dict[str, Any]:
    return {
        "starts_on": date(2018, 1, 1),
        "ends_on": ends,
        "removed_on": removed,
        "withdrawn_on": withdrawn,
    }


@pytest.mark.parametrize(
    ("rule", "listed", "ends"),
    [
        (FIVE_AFTER_LISTING, [], date(2023, 1, 1)),
        (FIVE_AFTER_DECISION, [], date(2023, 1, 1)),
        (FIVE_AFTER_LISTING, [_listing(date(2020, 1, 1))], date(2025, 1, 1)),
        # The latest end of several; a removal or withdrawal before the term ends it.
        (
            FIVE_AFTER_LISTING,
            [_listing(date(2020, 1, 1)), _listing(date(2021, 3, 1))],
            date(2026, 3, 1),
        ),
        (
            FIVE_AFTER_LISTING,
            [_listing(date(2020, 1, 1), removed=date(2019, 2, 1))],
            date(2024, 2, 1),
        ),
        (FIVE_AFTER_LISTING, [_listing(None, withdrawn=date(2018, 5, 1))], date(2023, 5, 1)),
        # From the decision, but not before the listing has ended.
        (FIVE_AFTER_DECISION, [_listing(date(2020, 1, 1))], date(2023, 1, 1)),
        (FIVE_AFTER_DECISION, [_listing(date(2030, 1, 1))], date(2030, 1, 1)),
        # A listing without an end keeps the record for good.
        (FIVE_AFTER_LISTING, [_listing(None)], None),
        (FIVE_AFTER_DECISION, [_listing(date(2020, 1, 1)), _listing(None)], None),
    ],
)
def test_retention_ends(rule: Retention, listed: list[dict[str, Any]], ends: date | None) -> None:
    assert retention_ends(rule, date(2018, 1, 1), listed) == ends


def test_add_years_keeps_leap_days_in_the_calendar() -> None:
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert add_years(date(2024, 2, 29), -4) == date(2020, 2, 29)


def test_the_registry_refuses_a_malformed_retention() -> None:
    with pytest.raises(Exception, match="retention"):
        _registry({"retention": {"years": 5, "after": "birthday"}})
    with pytest.raises(Exception, match="retention"):
        _registry({"retention": {"years": -1, "after": "decision"}})
    own = _registry(
        {"record_types": {"traffic.violation": {"retention": {"years": 3, "after": "decision"}}}}
    )
    assert own.retention_of("traffic.violation") == Retention(
        years=3, after=RetentionStart.DECISION
    )
    assert own.retention_of("utility.late_fees") == FIVE_AFTER_LISTING
    assert _registry({"retention": None}).retention_of("utility.late_fees") is None
