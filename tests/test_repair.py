"""Credit repair, through the services, the API and the command line, on SQLite and PostgreSQL:
a listed subject applies for early removal after the minimum publicity period, a reviewer
refuses or approves with reasons, and approval ends the listing on the day of approval."""

from __future__ import annotations

import base64
import calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from candor.api.app import create_app
from candor.cli import app
from candor.domain.access import Principal, Role
from candor.domain.registry import Registry
from candor.errors import Conflict, Forbidden, InvalidInput, NotFound
from candor.services import ledger, repair
from candor.services.checks import check
from candor.services.clients import add_client
from candor.services.explain import subject_ref
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, subject_id_for
from candor.services.rulebooks import activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.services.subject_file import subject_file
from candor.settings import Settings
from candor.store.database import Store
from candor.store.tables import ledger_entries, listings, notices, records, repairs
from tests.helpers import bearer, record_object, resident_id

PROBLEM = "application/problem+json"
PERSON = resident_id(7)
# Relative to the real day: the API and the command line decide as of date.today().
TODAY = date.today()
FOUND = TODAY - timedelta(days=200)  # the finding, and the day both listings start
_MONTH = FOUND.month - 1 + 3  # three months on; a day the month lacks is its last day
_YEAR, _MONTH = FOUND.year + _MONTH // 12, _MONTH % 12 + 1
OPENS = date(_YEAR, _MONTH, min(FOUND.day, calendar.monthrange(_YEAR, _MONTH)[1]))
REVIEWER = Principal(name="reviewer-wang", role=Role.REVIEWER)

# One finding puts the subject on two lists: `repairable` allows early removal after 3 months,
# `strict` allows none. Each list's measure is its own, so a check tells them apart.
RULEBOOK = """
rulebook: repair-walk
version: "1"
title: Lists with and without credit repair
domain: judicial
legal_basis: Test provisions on dishonest debtors
lists:
  repairable:
    title: Debtors who may repair their credit
    legal_basis: Test provisions, Art. 1
    entry:
      - record_type: court.dishonest_debtor_finding
    term: {years: 2}
    removal:
      - record_type: court.obligation_performed
      - record_type: credit.repair_approved
        legal_basis: Test provisions, Art. 9 (credit repair)
    review_within: {days: 15}
    repair:
      minimum: {months: 3}
      record_type: credit.repair_approved
      legal_basis: Test provisions, Art. 9 (credit repair)
  strict:
    title: Debtors without credit repair
    legal_basis: Test provisions, Art. 2
    entry:
      - record_type: court.dishonest_debtor_finding
    term: {years: 2}
measures:
  no_flights:
    title: No flights
    domain: transport
    legal_basis: test
    cross_domain_basis: test
    imposed_by: [repairable]
  no_star_hotel:
    title: No star hotels
    domain: consumption
    legal_basis: test
    cross_domain_basis: test
    imposed_by: [strict]
"""


@dataclass(frozen=True)
class Listed:
    subject_id: int
    repairable: str  # the listings' references
    strict: str

    @property
    def subject(self) -> Principal:
        return Principal(name="person-7", role=Role.SUBJECT, subject_id=self.subject_id)


@pytest.fixture
def listed(store: Store, settings: Settings, registry: Registry, tmp_path: Path) -> Listed:
    book = tmp_path / "repair-walk.yaml"
    book.write_text(RULEBOOK, encoding="utf-8")
    activate(store, registry, book, effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "court", list(registry.record_types))
    add_client(
        store,
        "airline",
        Role.RELYING_PARTY,
        measures=["no_flights", "no_star_hotel"],
        purposes=["sale"],
    )
    finding = record_object(
        "f1",
        PERSON,
        "court.dishonest_debtor_finding",
        FOUND.isoformat(),
        attributes={"case_no": "(2026)京0105执7号", "ground": 2},
    )
    assert ingest_objects(store, settings, registry, "court", [finding], today=TODAY).accepted
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    found = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{PERSON}", TODAY
    )
    assert found is not None
    with store.read() as conn:
        refs = dict(
            conn.execute(
                sa.select(listings.c.list_name, listings.c.ref).where(
                    listings.c.subject_id == found
                )
            ).all()
        )
    return Listed(found, refs["repairable"], refs["strict"])


def _applies(
    store: Store, settings: Settings, registry: Registry, on: date, measure: str = "no_flights"
) -> bool:
    return check(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        f"cn_resident_id:{PERSON}",
        measure,
        as_of=on,
        today=TODAY,
        client="airline",
        purpose="sale",
    ).applies


def _apply(store: Store, settings: Settings, listed: Listed, today: date = TODAY) -> dict[str, Any]:
    return repair.apply(
        store,
        settings,
        listed.subject,
        listed.subject_id,
        listing=listed.repairable,
        statement="I paid the judgment debt in full; the court's receipt is attached.",
        attachments=[repair.Attachment("receipt.pdf", "application/pdf", b"%PDF-1.7 paid")],
        today=today,
    )


def _removed_on(store: Store, ref: str) -> date | None:
    with store.read() as conn:
        removed: date | None = conn.execute(
            sa.select(listings.c.removed_on).where(listings.c.ref == ref)
        ).scalar_one()
    return removed


def test_the_minimum_publicity_period_must_run_and_the_list_must_allow_repair(
    store: Store, settings: Settings, listed: Listed
) -> None:
    early = OPENS - timedelta(days=1)
    with pytest.raises(Conflict, match=f"possible from {OPENS}") as refused:
        _apply(store, settings, listed, today=early)
    assert "3 months" in refused.value.detail and str(FOUND) in refused.value.detail
    with pytest.raises(Conflict, match="strict allows no early removal"):
        repair.apply(
            store,
            settings,
            listed.subject,
            listed.subject_id,
            listing=listed.strict,
            statement="Paid.",
            today=TODAY,
        )
    with pytest.raises(InvalidInput, match="proof of performance"):
        repair.apply(
            store,
            settings,
            listed.subject,
            listed.subject_id,
            listing=listed.repairable,
            statement="   ",
            today=TODAY,
        )
    with pytest.raises(NotFound, match="no listing"):
        repair.apply(
            store,
            settings,
            listed.subject,
            listed.subject_id,
            listing="0" * 16,
            statement="Paid.",
            today=TODAY,
        )
    # On the first possible day it is accepted; the review is due by the list's review_within.
    filed = _apply(store, settings, listed, today=OPENS)
    assert (filed["state"], filed["due_on"]) == ("filed", (OPENS + timedelta(days=15)).isoformat())
    with pytest.raises(Conflict, match=f"{filed['ref']} about listing .* is still open"):
        _apply(store, settings, listed)


def test_a_refusal_with_reasons_keeps_the_listing(
    store: Store, settings: Settings, registry: Registry, listed: Listed
) -> None:
    filed = _apply(store, settings, listed)
    taken = repair.take(store, REVIEWER, filed["ref"])
    assert (taken["state"], taken["reviewer"]) == ("in_review", "reviewer-wang")
    with pytest.raises(InvalidInput, match="reasons: required"):
        repair.decide(
            store, registry, REVIEWER, filed["ref"], decision="refused", reasons=" ", today=TODAY
        )
    other = Principal(name="reviewer-li", role=Role.REVIEWER)
    with pytest.raises(Forbidden, match="in review by reviewer-wang"):
        repair.decide(
            store, registry, other, filed["ref"], decision="refused", reasons="x", today=TODAY
        )
    refused = repair.decide(
        store,
        registry,
        REVIEWER,
        filed["ref"],
        decision="refused",
        reasons="The receipt covers half of the debt.",
        today=TODAY,
    )
    assert (refused["state"], refused["approval_record_id"]) == ("refused", None)
    assert _removed_on(store, listed.repairable) is None
    assert _applies(store, settings, registry, TODAY)
    with store.read() as conn:
        [body] = conn.execute(
            sa.select(notices.c.body).where(notices.c.kind == "repair.refused")
        ).scalars()
    assert "half of the debt" in body and "apply again" in body
    with pytest.raises(Conflict, match="decided already"):
        repair.decide(
            store, registry, REVIEWER, filed["ref"], decision="approved", reasons="x", today=TODAY
        )
    # Refused, the subject may apply again with further proof.
    assert _apply(store, settings, listed)["state"] == "filed"


def test_approval_ends_the_listing_on_the_day_of_approval_on_record(
    store: Store, settings: Settings, registry: Registry, listed: Listed
) -> None:
    assert _applies(store, settings, registry, TODAY)
    filed = _apply(store, settings, listed)
    approved = repair.decide(
        store,
        registry,
        REVIEWER,
        filed["ref"],
        decision="approved",
        reasons="The court confirms the debt was paid in full.",
        today=TODAY,
    )
    assert approved["state"] == "approved" and approved["decided_by"] == "reviewer-wang"
    assert _removed_on(store, listed.repairable) == TODAY
    assert not _applies(store, settings, registry, TODAY)
    assert not _applies(store, settings, registry, TODAY + timedelta(days=30))
    assert _applies(store, settings, registry, TODAY - timedelta(days=1))
    # The other list allows no repair: its listing and measure are untouched.
    assert _removed_on(store, listed.strict) is None
    assert _applies(store, settings, registry, TODAY, "no_star_hotel")

    with store.read() as conn:
        added = conn.execute(
            sa.select(records).where(records.c.id == approved["approval_record_id"])
        ).one()
        kinds = set(conn.execute(sa.select(ledger_entries.c.kind)).scalars())
    assert added.record_type == "credit.repair_approved"
    assert (added.decided_on, added.status, added.refers_to) == (TODAY, "final", "f1")
    assert added.attributes == {"list": "repairable", "application": filed["ref"]}
    assert added.legal_basis == "Test provisions, Art. 9 (credit repair)"
    assert {"repair.filed", "repair.approved", "record.correction", "listing.ended"} <= kinds
    assert ledger.verify(store, load_secret(settings)).ok
    # A reviewer's reasons changed behind candor's back are found, naming the entry.
    with store.write() as conn:
        conn.execute(sa.update(repairs).values(reasons="Approved without proof."))
        leaf = conn.execute(
            sa.select(sa.func.max(ledger_entries.c.leaf_index)).where(
                ledger_entries.c.object_table == "repairs"
            )
        ).scalar_one()
    tampered = ledger.verify(store, load_secret(settings))
    assert not tampered.ok and f"entry {leaf} (repair.approved, repairs id" in tampered.problems[0]

    book = subject_file(
        store,
        registry,
        load_secret(settings),
        listed.subject,
        listed.subject_id,
        as_of=TODAY,
        purpose=None,
    ).to_json()
    [shown] = book["repairs"]
    assert (shown["state"], shown["listing"], shown["list_name"]) == (
        "approved",
        listed.repairable,
        "repairable",
    )
    assert shown["attachments"][0]["name"] == "receipt.pdf"
    assert {n["kind"] for n in book["notices"]} >= {"repair.filed", "repair.approved"}
    states = {item["ref"]: item["state"] for item in book["listings"]}
    assert states == {listed.repairable: "removed", listed.strict: "in force"}
    html = subject_file(
        store,
        registry,
        load_secret(settings),
        listed.subject,
        listed.subject_id,
        as_of=TODAY,
        purpose=None,
    ).html()
    assert filed["ref"] in html and "the listing ended that day" in html
    with pytest.raises(Conflict, match="ended on"):  # nothing left to remove
        _apply(store, settings, listed)


def test_only_the_subject_or_an_officer_applies_and_only_a_reviewer_decides(
    store: Store, settings: Settings, registry: Registry, listed: Listed
) -> None:
    airline = Principal(name="airline", role=Role.RELYING_PARTY)
    with pytest.raises(Forbidden):
        repair.apply(
            store,
            settings,
            airline,
            listed.subject_id,
            listing=listed.repairable,
            statement="Paid.",
            today=TODAY,
        )
    someone_else = Principal(name="person-8", role=Role.SUBJECT, subject_id=listed.subject_id + 1)
    with pytest.raises(Forbidden):
        repair.apply(
            store,
            settings,
            someone_else,
            listed.subject_id,
            listing=listed.repairable,
            statement="Paid.",
            today=TODAY,
        )
    officer = Principal(name="officer-li", role=Role.OFFICER)
    filed = repair.apply(
        store,
        settings,
        officer,
        listed.subject_id,
        listing=listed.repairable,
        statement="Paid in full, says the court.",
        today=TODAY,
    )
    assert filed["filed_by"] == "officer-li"
    for who in (airline, listed.subject, officer):
        with pytest.raises(Forbidden, match="only a reviewer"):
            repair.decide(
                store, registry, who, filed["ref"], decision="approved", reasons="x", today=TODAY
            )
        with pytest.raises(Forbidden):
            repair.take(store, who, filed["ref"])
    assert _removed_on(store, listed.repairable) is None


def test_overdue_applications_are_reported(
    store: Store, settings: Settings, listed: Listed
) -> None:
    filed = _apply(store, settings, listed)
    assert repair.overdue(store, TODAY) == []
    late = repair.overdue(store, TODAY + timedelta(days=20))
    assert [(r["repair"], r["days_late"], r["reviewer"]) for r in late] == [(filed["ref"], 5, None)]


def test_the_api_and_the_command_line_carry_an_application_through(
    store: Store, settings: Settings, registry: Registry, listed: Listed
) -> None:
    ref = subject_ref(store, listed.subject_id)
    own = bearer(store, "person-7", "subject", subject_id=listed.subject_id)
    wang = bearer(store, "reviewer-wang", "reviewer")
    airline = bearer(store, "airline-ca", "relying_party", measures=["no_flights"], purposes=["x"])
    with TestClient(create_app(settings)) as api:
        none = api.post(f"/v1/subjects/{ref}/repairs", headers=own, json={"listing": "x" * 16})
        assert none.status_code == 400 and none.headers["content-type"] == PROBLEM
        strict = api.post(
            f"/v1/subjects/{ref}/repairs",
            headers=own,
            json={"listing": listed.strict, "statement": "Paid."},
        )
        assert strict.status_code == 409 and "allows no early removal" in strict.json()["detail"]
        filed = api.post(
            f"/v1/subjects/{ref}/repairs",
            headers=own,
            json={
                "listing": listed.repairable,
                "attachments": [
                    {"name": "r.pdf", "content_base64": base64.b64encode(b"%PDF").decode()}
                ],
            },
        )
        assert filed.status_code == 201, filed.text
        rid = filed.json()["ref"]
        assert filed.json()["listing"] == listed.repairable
        for who in (own, airline):
            denied = api.post(
                f"/v1/repairs/{rid}/decide",
                headers=who,
                json={"decision": "approved", "reasons": "mine"},
            )
            assert denied.status_code == 403
        assert api.post(f"/v1/repairs/{rid}/review", headers=wang).json()["state"] == "in_review"
        decided = api.post(
            f"/v1/repairs/{rid}/decide",
            headers=wang,
            json={"decision": "approved", "reasons": "The receipt proves payment."},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["state"] == "approved"
        mine = api.get(f"/v1/subjects/{ref}/repairs", headers=own).json()["repairs"]
        assert [(r["ref"], r["state"]) for r in mine] == [(rid, "approved")]
        assert mine[0]["attachments"][0]["sha256"]
        assert api.get("/v1/repairs/overdue", headers=wang).json() == {"overdue": []}
    assert _removed_on(store, listed.repairable) == TODAY
    assert not _applies(store, settings, registry, TODAY)

    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    cli = CliRunner()
    # The strict list's listing cannot be repaired from the command line either.
    strict_run = cli.invoke(
        app,
        [
            "repair",
            "apply",
            f"cn_resident_id:{PERSON}",
            "--listing",
            listed.strict,
            "--statement",
            "Paid.",
        ],
        env=env,
    )
    assert strict_run.exit_code != 0 and "allows no early removal" in strict_run.output
    report = cli.invoke(app, ["repair", "overdue", "--json"], env=env)
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout) == {"overdue": []}


def test_the_command_line_applies_reviews_and_refuses(
    store: Store, settings: Settings, listed: Listed, tmp_path: Path
) -> None:
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    proof = tmp_path / "receipt.pdf"
    proof.write_bytes(b"%PDF-1.7 paid")
    cli = CliRunner()
    applied = cli.invoke(
        app,
        [
            "repair",
            "apply",
            f"cn_resident_id:{PERSON}",
            "--listing",
            listed.repairable,
            "--attach",
            str(proof),
            "--json",
        ],
        env=env,
    )
    assert applied.exit_code == 0, applied.output
    rid = json.loads(applied.stdout)["ref"]
    taken = cli.invoke(app, ["repair", "review", rid, "--reviewer", "wang", "--json"], env=env)
    assert json.loads(taken.stdout)["state"] == "in_review"
    refused = cli.invoke(
        app,
        [
            "repair",
            "decide",
            rid,
            "--decision",
            "refused",
            "--reasons",
            "Not paid in full.",
            "--reviewer",
            "wang",
        ],
        env=env,
    )
    assert refused.exit_code == 0, refused.output
    assert "refused" in refused.stdout and "Not paid in full." in refused.stdout
    assert _removed_on(store, listed.repairable) is None
