"""Objections and appeals, through the services, on SQLite and PostgreSQL: the issue's walk of
one subject from a record to an upheld objection, and the rules an objection's course keeps."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

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
from candor.errors import Conflict, Forbidden
from candor.services import ledger, objections
from candor.services.checks import check, check_many
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
from candor.store.tables import notices
from tests.helpers import bearer, record_object, resident_id

PROBLEM = "application/problem+json"

TODAY = date(2026, 11, 23)
ON = date(2026, 6, 1)
PERSON = resident_id(1)
FINDING = {"case_no": "(2026)京0105执1号", "ground": 2}
FIRST = Principal(name="reviewer-wang", role=Role.REVIEWER)
SECOND = Principal(name="reviewer-li", role=Role.REVIEWER)


@pytest.fixture
def listed(store: Store, settings: Settings, registry: Registry) -> int:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )
    add_source(store, registry, "court", list(registry.record_types))
    add_client(store, "airline", Role.RELYING_PARTY, measures=["no_air_travel"], purposes=["sale"])
    finding = record_object(
        "f1", PERSON, "court.dishonest_debtor_finding", "2026-03-01", attributes=FINDING
    )
    assert ingest_objects(store, settings, registry, "court", [finding], today=TODAY).accepted
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    found = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{PERSON}", TODAY
    )
    assert found is not None
    return found


def _check(store: Store, settings: Settings, registry: Registry) -> dict[str, object]:
    return check(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        f"cn_resident_id:{PERSON}",
        "no_air_travel",
        as_of=ON,
        today=TODAY,
        client="airline",
        purpose="sale",
    ).to_json()


def test_a_subject_walks_from_listing_to_an_upheld_objection_and_can_prove_it(
    store: Store, settings: Settings, registry: Registry, listed: int
) -> None:
    subject = Principal(name="person-1", role=Role.SUBJECT, subject_id=listed)
    before = _check(store, settings, registry)
    assert (before["applies"], before["disputed"]) == (True, False)
    [listing] = subject_file(
        store, registry, load_secret(settings), subject, listed, as_of=TODAY, purpose=None
    ).listings

    filed = objections.file_objection(
        store,
        settings,
        subject,
        listed,
        about="listing",
        target=listing["ref"],
        statement="I paid the judgment debt in full on 2026-02-20, before the finding.",
        attachments=[objections.Attachment("receipt.pdf", "application/pdf", b"%PDF-1.7 ...")],
        today=TODAY,
    )
    # Due by the list's review_within: the court reviews within 15 days (Fa Shi [2017] No. 7,
    # Art. 11), not the deployment's default.
    assert (filed["state"], filed["due_on"]) == ("filed", (TODAY + timedelta(days=15)).isoformat())
    during = _check(store, settings, registry)
    assert (during["applies"], during["disputed"]) == (True, True)
    bulk = check_many(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        [f"cn_resident_id:{PERSON}", f"cn_resident_id:{resident_id(2)}"],
        "no_air_travel",
        as_of=ON,
        today=TODAY,
        client="airline",
        purpose="sale",
    )
    assert [(a["applies"], a["disputed"]) for a in bulk.answers] == [(True, True), (False, False)]

    objections.take(store, FIRST, filed["ref"])
    decided = objections.decide(
        store,
        registry,
        settings,
        FIRST,
        filed["ref"],
        decision="upheld",
        reasons="The court's receipt shows payment before the finding.",
        today=TODAY,
    )
    assert decided["state"] == "decided" and decided["correction_record_id"]

    after = _check(store, settings, registry)
    assert (after["applies"], after["disputed"]) == (False, False)
    # The relying party that was told "applies" is told the answer changed.
    with store.read() as conn:
        told = conn.execute(
            sa.select(notices.c.kind, notices.c.body).where(notices.c.client_id.is_not(None))
        ).all()
    assert [k for k, _ in told] == ["answer.changed"]
    assert listing["ref"] in told[0][1] and filed["ref"] in told[0][1]

    # The subject's file shows all of it, with proofs that verify.
    book = subject_file(
        store, registry, load_secret(settings), subject, listed, as_of=TODAY, purpose=None
    )
    doc = book.to_json()
    assert [r["status"] for r in doc["records"]] == ["final", "overturned"]
    assert doc["listings"][0]["state"] == "withdrawn"
    assert [(o["state"], o["decision"]) for o in doc["objections"]] == [("decided", "upheld")]
    assert doc["objections"][0]["attachments"][0]["name"] == "receipt.pdf"
    kinds = [n["kind"] for n in doc["notices"]]
    assert "objection.filed" in kinds and "objection.decided" in kinds
    assert [c["applies"] for c in doc["checks"]] == [False, True, True, True]  # newest first
    head = doc["ledger"]["head"]
    kinds_in_ledger = {e["entry"]["kind"] for e in doc["ledger"]["entries"]}
    assert {"record.accepted", "record.correction", "listing.started", "listing.ended"} <= (
        kinds_in_ledger
    )
    for e in doc["ledger"]["entries"]:
        assert merkle.verify_inclusion(
            merkle.leaf_hash(canonical(e["entry"])),
            e["leaf_index"],
            head["size"],
            [bytes.fromhex(h) for h in e["proof"]],
            bytes.fromhex(head["root"]),
        )
    assert ledger.verify(store, load_secret(settings)).ok


def test_an_appeal_is_decided_by_another_reviewer(
    store: Store, settings: Settings, registry: Registry, listed: int
) -> None:
    subject = Principal(name="person-1", role=Role.SUBJECT, subject_id=listed)
    with store.read() as conn:
        record_id = conn.execute(sa.text("SELECT min(id) FROM records")).scalar_one()
    filed = objections.file_objection(
        store,
        settings,
        subject,
        listed,
        about="record",
        target=str(record_id),
        statement="The finding names the wrong person.",
        today=TODAY,
    )
    objections.decide(
        store,
        registry,
        settings,
        FIRST,
        filed["ref"],
        decision="rejected",
        reasons="The identity was confirmed in court.",
        today=TODAY,
    )
    assert _check(store, settings, registry)["disputed"] is False
    objections.appeal(
        store, settings, subject, filed["ref"], statement="New evidence: …", today=TODAY
    )
    assert _check(store, settings, registry)["disputed"] is True
    with pytest.raises(Forbidden, match="must differ"):
        objections.decide_appeal(
            store,
            registry,
            settings,
            FIRST,
            filed["ref"],
            decision="upheld",
            reasons="Reconsidered.",
            today=TODAY,
        )
    final = objections.decide_appeal(
        store,
        registry,
        settings,
        SECOND,
        filed["ref"],
        decision="upheld",
        reasons="The new evidence shows another person.",
        today=TODAY,
    )
    assert (final["state"], final["appeal_decided_by"]) == ("final", "reviewer-li")
    assert _check(store, settings, registry)["applies"] is False
    with pytest.raises(Conflict):
        objections.appeal(store, settings, subject, filed["ref"], statement="again", today=TODAY)


def test_overdue_objections_are_reported_and_unappealed_decisions_become_final(
    store: Store, settings: Settings, registry: Registry, listed: int
) -> None:
    subject = Principal(name="person-1", role=Role.SUBJECT, subject_id=listed)
    with store.read() as conn:
        record_id = conn.execute(sa.text("SELECT min(id) FROM records")).scalar_one()
    late = objections.file_objection(
        store,
        settings,
        subject,
        listed,
        about="record",
        target=str(record_id),
        statement="Wrong amount.",
        today=TODAY,
    )
    decided = objections.file_objection(
        store,
        settings,
        subject,
        listed,
        about="rating",
        target="court-dishonest-debtors",
        statement="Wrong grade.",
        today=TODAY,
    )
    objections.decide(
        store,
        registry,
        settings,
        FIRST,
        decided["ref"],
        decision="partly_upheld",
        reasons="One record was counted twice; the source corrects it.",
        today=TODAY,
    )
    assert objections.review_deadlines(store, settings, TODAY).to_json() == {
        "overdue": [],
        "finalised": [],
    }
    later = TODAY + timedelta(days=45)
    report = objections.review_deadlines(store, settings, later)
    assert [o["objection"] for o in report.overdue] == [late["ref"]]
    assert report.overdue[0]["days_late"] == 15
    assert report.finalised == [decided["ref"]]
    with pytest.raises(Forbidden):  # a relying party files nothing for a subject
        objections.file_objection(
            store,
            settings,
            Principal(name="airline", role=Role.RELYING_PARTY),
            listed,
            about="record",
            target=str(record_id),
            statement="x",
            today=TODAY,
        )


def test_the_api_and_the_command_line_carry_an_objection_through(
    store: Store, settings: Settings, registry: Registry, listed: int
) -> None:
    ref = subject_ref(store, listed)
    own = bearer(store, "person-1", "subject", subject_id=listed)
    wang = bearer(store, "reviewer-wang", "reviewer")
    li = bearer(store, "reviewer-li", "reviewer")
    with TestClient(create_app(settings)) as api:
        [listing] = api.get(f"/v1/subjects/{ref}/file", headers=own).json()["listings"]
        filed = api.post(
            f"/v1/subjects/{ref}/objections",
            headers=own,
            json={
                "about": "listing",
                "target": listing["ref"],
                "statement": "Paid before the finding.",
                "attachments": [
                    {"name": "r.pdf", "content_base64": base64.b64encode(b"%PDF").decode()}
                ],
            },
        )
        assert filed.status_code == 201, filed.text
        oid = filed.json()["ref"]
        bad = api.post(
            f"/v1/subjects/{ref}/objections",
            headers=own,
            json={"about": "listing", "target": "nope", "statement": "x"},
        )
        assert bad.status_code == 404 and bad.headers["content-type"] == PROBLEM
        assert (
            api.post(
                f"/v1/objections/{oid}/decision",
                headers=own,
                json={"decision": "upheld", "reasons": "mine"},
            ).status_code
            == 403
        )
        decided = api.post(
            f"/v1/objections/{oid}/decision",
            headers=wang,
            json={"decision": "rejected", "reasons": "No proof of the date."},
        )
        assert decided.json()["state"] == "decided"
        assert (
            api.post(
                f"/v1/objections/{oid}/appeal", headers=own, json={"statement": "Here it is."}
            ).json()["state"]
            == "appealed"
        )
        same = api.post(
            f"/v1/objections/{oid}/appeal-decision",
            headers=wang,
            json={"decision": "upheld", "reasons": "Reconsidered."},
        )
        assert same.status_code == 403 and "must differ" in same.json()["detail"]
        final = api.post(
            f"/v1/objections/{oid}/appeal-decision",
            headers=li,
            json={"decision": "upheld", "reasons": "The bank's statement shows the date."},
        )
        assert final.json()["state"] == "final"
        listed_now = api.get(f"/v1/subjects/{ref}/objections", headers=own).json()
        assert listed_now["objections"][0]["attachments"][0]["name"] == "r.pdf"
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    report = CliRunner().invoke(app, ["objections", "overdue", "--json"], env=env)
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout) == {"overdue": [], "finalised": []}
    assert _check(store, settings, registry)["applies"] is False
