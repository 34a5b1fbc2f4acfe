"""Due process end to end, on SQLite and PostgreSQL: the issue's walk of one subject from a record
through an advance warning, a listing, a check, an objection upheld, to a relying party told its
answer changed — with a notice at every step and proofs that verify — and the other notices a
subject is owed (a term that runs out, a grade that falls a band), review deadlines per list and
record type, and addresses notices go to."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from candor.api.app import create_app
from candor.cli import app
from candor.domain import merkle
from candor.domain.access import Principal, Role
from candor.domain.ledger import canonical
from candor.domain.registry import Registry
from candor.errors import Forbidden, InvalidInput
from candor.services import ledger, notices, objections
from candor.services.checks import check
from candor.services.clients import add_client
from candor.services.explain import subject_ref
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.services.subject_file import subject_file
from candor.settings import Settings
from candor.store.database import Store
from candor.store.tables import ledger_entries, notice_deliveries
from candor.store.tables import notices as notice_rows
from tests.helpers import bearer, record_object, resident_id

TODAY = date(2026, 11, 23)
DECIDED = date(2026, 11, 20)
WARNING = 14
STARTS = DECIDED + timedelta(days=WARNING)  # 2026-12-04
PERSON = resident_id(7)
FINDING = {"case_no": "(2026)京0105执9号", "ground": 2}
REVIEWER = Principal(name="reviewer-zhao", role=Role.REVIEWER)


def _warning_rulebook(tmp_path: Path) -> Path:
    """The court's rulebook, with a list that warns 14 days ahead (the shipped one: 10) and
    reviews in 15."""
    text = (SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml").read_text(encoding="utf-8")
    text = text.replace('version: "2017.2"', 'version: "2017.2-warned"')
    shipped = "    advance_warning: {days: 10}\n    review_within: {days: 15}\n"
    assert shipped in text
    text = text.replace(
        shipped, f"    advance_warning: {{days: {WARNING}}}\n    review_within: {{days: 15}}\n"
    )
    text += "review_within:\n  court.enforcement_order: {days: 10}\n"
    path = tmp_path / "court-warned.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def court(store: Store, settings: Settings, registry: Registry, tmp_path: Path) -> None:
    activate(store, registry, _warning_rulebook(tmp_path), effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "court", list(registry.record_types))
    add_client(store, "airline", Role.RELYING_PARTY, measures=["no_air_travel"], purposes=["sale"])


def _subject(store: Store, settings: Settings) -> int:
    found = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{PERSON}", TODAY
    )
    assert found is not None
    return found


def _check(store: Store, settings: Settings, registry: Registry, on: date) -> dict[str, Any]:
    return check(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        f"cn_resident_id:{PERSON}",
        "no_air_travel",
        as_of=on,
        today=on,
        client="airline",
        purpose="sale",
    ).to_json()


def _notices(store: Store, **where: Any) -> list[Any]:
    with store.read() as conn:
        query = sa.select(notice_rows).order_by(notice_rows.c.id)
        for column, value in where.items():
            query = query.where(notice_rows.c[column] == value)
        return list(conn.execute(query))


def _ledger_kinds(store: Store, listing_id: int) -> list[str]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(ledger_entries.c.kind)
                .where(
                    ledger_entries.c.object_table == "listings",
                    ledger_entries.c.object_id == listing_id,
                )
                .order_by(ledger_entries.c.leaf_index)
            ).scalars()
        )


def test_a_subject_is_warned_listed_objects_is_upheld_and_everyone_is_told(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    notices.set_address(
        store,
        Principal(name="cli:officer", role=Role.OFFICER),
        notices.Recipient(client="airline"),
        "webhook",
        "https://airline.example/candor-notices",
    )
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    assert ingest_objects(store, settings, registry, "court", [finding], today=TODAY).accepted
    subject_id = _subject(store, settings)
    subject = Principal(name="person-7", role=Role.SUBJECT, subject_id=subject_id)
    notices.set_address(
        store, subject, notices.Recipient(subject_id=subject_id), "email", "p7@example.cn"
    )

    # 1. The record is accepted: the subject is told, with the record and its legal basis.
    [accepted] = _notices(store, kind="record.accepted")
    assert accepted.subject_id == subject_id and "f9" in accepted.body
    assert "How to object" in accepted.body

    # 2. Rated (at once, as the API's ingestion re-rates the subject; the day's batch run finds
    # nothing more): the listing is decided but waits for its warning; the check does not apply.
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    [warning] = _notices(store, kind="listing.warning")
    assert warning.data["starts_on"] == STARTS.isoformat()
    assert warning.data["object_by"] == STARTS.isoformat()
    assert "Fa Shi [2017] No. 7, Art. 1(2)-(6)" in warning.body  # the rule's legal basis
    assert "no_air_travel" in warning.data["measures"]
    listing_ref = warning.data["listing"]
    with store.read() as conn:
        listing_id = conn.execute(
            sa.text("SELECT id FROM listings WHERE ref = :r"), {"r": listing_ref}
        ).scalar_one()
    assert _ledger_kinds(store, listing_id) == ["listing.announced"]
    assert warning.data["ledger_leaf"] is not None
    assert _check(store, settings, registry, TODAY)["applies"] is False

    # Rating again before the warning has run tells nothing new.
    rate_all(store, registry, as_of=STARTS - timedelta(days=1), today=STARTS - timedelta(days=1))
    assert [n.kind for n in _notices(store, subject_id=subject_id)] == [
        "record.accepted",
        "listing.warning",
    ]

    # 3. The warning has run: the listing takes effect, the subject is told, the check applies.
    rate_all(store, registry, as_of=STARTS, today=STARTS)
    [started] = _notices(store, kind="listing.started")
    assert started.data["listing"] == listing_ref
    with store.read() as conn:  # sent where the subject asked, too
        [(channel, address)] = conn.execute(
            sa.select(notice_deliveries.c.channel, notice_deliveries.c.address).where(
                notice_deliveries.c.notice_id == started.id
            )
        ).all()
    assert (channel, address) == ("email", "p7@example.cn")
    assert _ledger_kinds(store, listing_id) == ["listing.announced", "listing.started"]
    answer = _check(store, settings, registry, STARTS)
    assert (answer["applies"], answer["listing"], answer["disputed"]) == (True, listing_ref, False)

    # 4. The subject objects; the list says a reviewer decides within 15 days.
    filed = objections.file_objection(
        store,
        settings,
        subject,
        subject_id,
        about="listing",
        target=listing_ref,
        statement="The enforcement notice never reached me, and I paid on 2026-11-19.",
        attachments=[objections.Attachment("receipt.pdf", "application/pdf", b"%PDF-1.7 ...")],
        today=STARTS,
    )
    assert filed["due_on"] == (STARTS + timedelta(days=15)).isoformat()
    assert _check(store, settings, registry, STARTS)["disputed"] is True

    # 5. Upheld: a correction record, the listing withdrawn, the check no longer applies.
    objections.take(store, REVIEWER, filed["ref"])
    decided = objections.decide(
        store,
        registry,
        settings,
        REVIEWER,
        filed["ref"],
        decision="upheld",
        reasons="Payment before the finding is proven by the court's receipt.",
        today=STARTS,
    )
    assert decided["correction_record_id"]
    after = _check(store, settings, registry, STARTS)
    assert (after["applies"], after["disputed"]) == (False, False)
    [ended] = _notices(store, kind="listing.ended")
    assert ended.data["withdrawn_on"] == STARTS.isoformat()
    assert _ledger_kinds(store, listing_id)[-1] == "listing.ended"

    # 6. The relying party that was told "applies" is told its answer changed — by webhook too.
    [changed] = _notices(store, kind="answer.changed")
    assert changed.client_id is not None and listing_ref in changed.body
    with store.read() as conn:
        [(channel, address)] = conn.execute(
            sa.select(notice_deliveries.c.channel, notice_deliveries.c.address).where(
                notice_deliveries.c.notice_id == changed.id
            )
        ).all()
    assert (channel, address) == ("webhook", "https://airline.example/candor-notices")

    # 7. The subject's file shows all of it, with proofs that verify against the signed head.
    doc = subject_file(
        store, registry, load_secret(settings), subject, subject_id, as_of=STARTS, purpose=None
    ).to_json()
    told = [n["kind"] for n in doc["notices"]]
    for kind in (
        "record.accepted",
        "listing.warning",
        "listing.started",
        "objection.filed",
        "objection.decided",
        "listing.ended",
    ):
        assert kind in told, kind
    assert [r["status"] for r in doc["records"]] == ["final", "overturned"]
    assert doc["listings"][0]["state"] == "withdrawn"
    assert [c["applies"] for c in doc["checks"]] == [False, True, True, False]  # newest first
    head = doc["ledger"]["head"]
    proved = {e["leaf_index"] for e in doc["ledger"]["entries"]}
    assert warning.data["ledger_leaf"] in proved and started.data["ledger_leaf"] in proved
    for e in doc["ledger"]["entries"]:
        assert merkle.verify_inclusion(
            merkle.leaf_hash(canonical(e["entry"])),
            e["leaf_index"],
            head["size"],
            [bytes.fromhex(h) for h in e["proof"]],
            bytes.fromhex(head["root"]),
        )
    assert ledger.verify(store, load_secret(settings)).ok


def test_a_list_that_does_not_wait_lists_at_once_and_warns_anyway(
    store: Store, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    path = _warning_rulebook(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "    review_within: {days: 15}\n",
            "    review_within: {days: 15}\n    wait_for_warning: false\n",
        ),
        encoding="utf-8",
    )
    activate(store, registry, path, effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "court", list(registry.record_types))
    add_client(store, "airline", Role.RELYING_PARTY, measures=["no_air_travel"], purposes=["sale"])
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    ingest_objects(store, settings, registry, "court", [finding], today=TODAY)
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert [n.kind for n in _notices(store, kind="listing.started")] == ["listing.started"]
    assert not _notices(store, kind="listing.warning")
    assert _check(store, settings, registry, TODAY)["applies"] is True


def test_a_term_that_runs_out_is_told_and_recorded_without_a_new_record(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    ingest_objects(store, settings, registry, "court", [finding], today=TODAY)
    rate_all(store, registry, as_of=STARTS, today=STARTS)
    [started] = _notices(store, kind="listing.started")
    term_end = date(STARTS.year + 2, STARTS.month, STARTS.day)
    rate_all(store, registry, as_of=term_end, today=term_end)
    [ended] = _notices(store, kind="listing.ended")
    assert "its term ran out" in ended.body and ended.data["ends_on"] == term_end.isoformat()
    with store.read() as conn:
        listing_id = conn.execute(
            sa.text("SELECT id FROM listings WHERE ref = :r"), {"r": started.data["listing"]}
        ).scalar_one()
    # One entry per phase (ingestion re-rated the subject at once: announced); the row did not
    # change when the term ran out, and the ledger records that it ended all the same.
    assert _ledger_kinds(store, listing_id) == [
        "listing.announced",
        "listing.started",
        "listing.ended",
    ]
    assert ledger.verify(store, load_secret(settings)).ok


def test_a_grade_that_falls_a_band_is_told_with_the_deductions_behind_it(
    store: Store, settings: Settings, registry: Registry
) -> None:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "rongcheng-personal.yaml",
        effective=date(2020, 1, 1),
        today=TODAY,
    )
    add_source(store, registry, "city", list(registry.record_types))
    consent = record_object("c1", PERSON, "consent.scoring_granted", "2026-01-05")
    ingest_objects(store, settings, registry, "city", [consent], today=TODAY)
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert not _notices(store, kind="grade.fell")
    breach = record_object(
        "b1", PERSON, "contract.breach_found", "2026-11-01", attributes={"case_no": "(2026)1"}
    )
    ingest_objects(store, settings, registry, "city", [breach], today=TODAY)
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    [fell] = _notices(store, kind="grade.fell")
    assert (fell.data["previous_grade"], fell.data["grade"]) == ("A", "B")
    [reason] = fell.data["reasons"]
    assert (reason["rule"], reason["points"], reason["record"]) == ("breach_of_contract", -50, "b1")
    assert "Rongcheng assessment table, Attachment 1 (-50)" in fell.body
    # A rise is no news to be warned of.
    withdrawn = record_object("w1", PERSON, "consent.scoring_withdrawn", "2026-11-10")
    ingest_objects(store, settings, registry, "city", [withdrawn], today=TODAY)
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    assert len(_notices(store, kind="grade.fell")) == 1


def test_review_deadlines_follow_the_list_and_the_record_type(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    order = record_object(
        "e1",
        PERSON,
        "court.enforcement_order",
        DECIDED.isoformat(),
        attributes={"case_no": "(2026)京0105执9号", "amount": 1000},
    )
    ingest_objects(store, settings, registry, "court", [order], today=TODAY)
    subject_id = _subject(store, settings)
    with store.read() as conn:
        record_id = conn.execute(sa.text("SELECT min(id) FROM records")).scalar_one()
    officer = Principal(name="cli:officer", role=Role.OFFICER)
    filed = objections.file_objection(
        store,
        settings,
        officer,
        subject_id,
        about="record",
        target=str(record_id),
        statement="Wrong amount.",
        today=TODAY,
    )
    assert filed["due_on"] == (TODAY + timedelta(days=10)).isoformat()  # the rulebook's, by type
    rated = objections.file_objection(
        store,
        settings,
        officer,
        subject_id,
        about="rating",
        target="court-dishonest-debtors",
        statement="…",
        today=TODAY,
    )
    default = TODAY + timedelta(days=settings.objection_review_days)
    assert rated["due_on"] == default.isoformat()


def test_only_the_recipient_or_an_officer_says_where_notices_go(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    ingest_objects(store, settings, registry, "court", [finding], today=TODAY)
    subject_id = _subject(store, settings)
    other = Principal(name="person-8", role=Role.SUBJECT, subject_id=subject_id + 1000)
    mine = notices.Recipient(subject_id=subject_id)
    with pytest.raises(Forbidden):
        notices.set_address(store, other, mine, "email", "x@example.cn")
    airline = Principal(name="airline", role=Role.RELYING_PARTY)
    with pytest.raises(Forbidden):
        notices.set_address(store, airline, mine, "email", "x@example.cn")
    assert notices.set_address(
        store, airline, notices.Recipient(client="airline"), "webhook", "https://a.example/n"
    )
    with pytest.raises(InvalidInput, match="address"):
        notices.set_address(store, airline, notices.Recipient(client="airline"), "email", "nope")
    me = Principal(name="person-7", role=Role.SUBJECT, subject_id=subject_id)
    assert notices.set_address(store, me, mine, "email", "p7@example.cn")
    assert not notices.set_address(store, me, mine, "email", "p7@example.cn")  # already there
    assert notices.addresses(store, me, mine) == [{"channel": "email", "address": "p7@example.cn"}]
    assert notices.set_address(store, me, mine, "email", "p7@example.cn", remove=True)
    assert notices.addresses(store, me, mine) == []


def test_the_api_and_the_command_line_say_where_notices_go(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    ingest_objects(store, settings, registry, "court", [finding], today=TODAY)
    subject_id = _subject(store, settings)
    ref = subject_ref(store, subject_id)
    own = bearer(store, "person-7", "subject", subject_id=subject_id)
    bank = bearer(store, "bank", "relying_party", measures=["no_air_travel"], purposes=["loan"])
    base = f"/v1/subjects/{ref}/notice-addresses"
    with TestClient(create_app(settings)) as api:
        added = api.post(base, headers=own, json={"channel": "email", "address": "p7@example.cn"})
        assert added.status_code == 200, added.text
        assert added.json() == {
            "changed": True,
            "addresses": [{"channel": "email", "address": "p7@example.cn"}],
        }
        assert api.get(base, headers=bank).status_code == 403  # not the bank's business
        bad = api.post(base, headers=own, json={"channel": "email", "address": "not-an-address"})
        assert bad.status_code == 400 and "address" in bad.text
        hook = {"channel": "webhook", "address": "https://bank.example/candor"}
        assert api.post("/v1/me/notice-addresses", headers=bank, json=hook).json()["changed"]
        assert api.get("/v1/me/notice-addresses", headers=bank).json()["addresses"] == [hook]
        assert api.post("/v1/me/notice-addresses", headers=own, json=hook).status_code == 403
        gone = api.post(f"{base}/remove", headers=own, json=added.json()["addresses"][0])
        assert gone.json() == {"changed": True, "addresses": []}
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "notices",
            "address",
            "email",
            "officer-copy@example.cn",
            "--subject",
            f"cn_resident_id:{PERSON}",
            "--db",
            settings.database_url,
            "--json",
        ],
        env={"CANDOR_SECRET_FILE": str(settings.secret_file)},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["addresses"] == [
        {"channel": "email", "address": "officer-copy@example.cn"}
    ]


def _tamper_and_verify(store: Store, settings: Settings, table: str, column: str) -> str:
    """Change one stored value of the newest row of ``table`` behind candor's back; verify's
    first problem."""
    meta = sa.Table(table, sa.MetaData(), autoload_with=store.engine)
    with store.write() as conn:
        row = conn.execute(
            sa.select(meta.c.id, meta.c[column]).order_by(meta.c.id.desc()).limit(1)
        ).one()
        conn.execute(sa.update(meta).where(meta.c.id == row.id).values({column: row[1] + "!"}))
        leaf = conn.execute(
            sa.select(sa.func.max(ledger_entries.c.leaf_index)).where(
                ledger_entries.c.object_table == table, ledger_entries.c.object_id == row.id
            )
        ).scalar_one()
    found = ledger.verify(store, load_secret(settings))
    assert not found.ok
    assert f"entry {leaf} (" in found.problems[0] and f"{table} id {row.id}" in found.problems[0]
    return found.problems[0]


def test_a_changed_objection_is_found_by_verify_naming_its_entry(
    store: Store, settings: Settings, registry: Registry, court: None
) -> None:
    finding = record_object(
        "f9", PERSON, "court.dishonest_debtor_finding", DECIDED.isoformat(), attributes=FINDING
    )
    ingest_objects(store, settings, registry, "court", [finding], today=TODAY)
    subject_id = _subject(store, settings)
    subject = Principal(name="person-7", role=Role.SUBJECT, subject_id=subject_id)
    filed = objections.file_objection(
        store,
        settings,
        subject,
        subject_id,
        about="rating",
        target="court-dishonest-debtors",
        statement="Wrong.",
        today=TODAY,
    )
    objections.take(store, REVIEWER, filed["ref"])
    assert ledger.verify(store, load_secret(settings)).ok
    problem = _tamper_and_verify(store, settings, "objections", "statement")
    assert "objection.in_review" in problem
