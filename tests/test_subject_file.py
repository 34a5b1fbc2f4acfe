"""A subject's file: everything candor holds and did about the subject, with ledger proofs that
verify with the RFC 9162 verifier alone; as JSON, HTML, through the CLI and the API."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from candor.api.app import create_app
from candor.cli import app
from candor.domain import merkle
from candor.domain.ledger import canonical
from candor.domain.registry import Registry
from candor.services import subject_reads
from candor.services.checks import check
from candor.services.explain import subject_ref
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.services.subject_file import subject_file
from candor.settings import Settings
from candor.store.database import Store
from tests.helpers import bearer, record_object, resident_id

TODAY = date(2026, 11, 23)
PERSON = resident_id(1)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}


@pytest.fixture
def world(store: Store, settings: Settings, registry: Registry) -> int:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )
    add_source(store, registry, "court", list(registry.record_types))
    rows = [
        record_object(
            "f1",
            PERSON,
            "court.dishonest_debtor_finding",
            "2025-03-01",
            attributes=FINDING,
            legal_basis="<b>Civil Procedure Law</b> Art. 255",
        ),
        record_object(
            "u1", PERSON, "utility.late_fees", "2025-04-01", attributes={"amount": "12.50"}
        ),
        record_object(
            "o1", resident_id(2), "utility.late_fees", "2025-04-01", attributes={"amount": "1"}
        ),
    ]
    assert ingest_objects(store, settings, registry, "court", rows, today=TODAY).rejected == 0
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    check(
        store,
        registry,
        load_secret(settings).identifier_hasher(),
        f"cn_resident_id:{PERSON}",
        "no_air_travel",
        as_of=date(2025, 6, 1),
        today=TODAY,
        client="airline",
        purpose="ticket sale",
    )
    found = subject_id_for(
        store, load_secret(settings).identifier_hasher(), f"cn_resident_id:{PERSON}", TODAY
    )
    assert found is not None
    return found


def test_the_file_holds_everything_with_proofs_that_verify(
    store: Store, settings: Settings, registry: Registry, world: int
) -> None:
    officer = subject_reads.operator()
    found = subject_file(
        store,
        registry,
        load_secret(settings),
        officer,
        world,
        as_of=TODAY,
        purpose="objection review",
    )
    doc = found.to_json()
    assert [(r["source_record_id"], r["source"]) for r in doc["records"]] == [
        ("f1", "court"),
        ("u1", "court"),
    ]
    assert doc["records"][0]["legal_basis"] == "<b>Civil Procedure Law</b> Art. 255"
    [listing] = doc["listings"]
    assert (listing["list_name"], listing["state"]) == ("dishonest_debtors", "in force")
    [seen] = doc["checks"]
    assert (seen["client"], seen["purpose"], seen["applies"]) == ("airline", "ticket sale", True)
    assert doc["rating"]["rulebooks"][0]["listings"][0]["listing"] == listing["ref"]
    # Every record and listing has its entries, and each entry's proof verifies against the
    # signed head with nothing of candor's but the RFC's hashing.
    head = doc["ledger"]["head"]
    entries = doc["ledger"]["entries"]
    named = {(e["object"]["table"], e["object"]["id"]) for e in entries}
    assert {("records", r["id"]) for r in doc["records"]} <= named
    assert ("listings", listing["id"]) in named
    assert all(r["ledger_entries"] for r in doc["records"]) and listing["ledger_entries"]
    for e in entries:
        assert merkle.leaf_hash(canonical(e["entry"])).hex() == e["leaf_hash"]
        assert merkle.verify_inclusion(
            bytes.fromhex(e["leaf_hash"]),
            e["leaf_index"],
            head["size"],
            [bytes.fromhex(h) for h in e["proof"]],
            bytes.fromhex(head["root"]),
        )
    # The other subject's records are not in this file.
    assert '"o1"' not in json.dumps(doc)  # as a value: base64 may hold the letters
    # Reading the file is itself logged, and shows the next time.
    again = subject_file(
        store, registry, load_secret(settings), officer, world, as_of=TODAY, purpose="second look"
    )
    assert [(r["action"], r["purpose"]) for r in again.reads] == [("file", "objection review")]


def test_the_html_document_is_escaped_and_printable(
    store: Store, settings: Settings, registry: Registry, world: int
) -> None:
    found = subject_file(
        store,
        registry,
        load_secret(settings),
        subject_reads.operator(),
        world,
        as_of=TODAY,
        purpose="print",
    )
    page = found.html()
    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    assert found.subject["ref"] in page
    assert "&lt;b&gt;Civil Procedure Law&lt;/b&gt;" in page and "<b>Civil" not in page
    assert "dishonest_debtors" in page and "ticket sale" in page
    assert found.head is not None and found.head.body().decode().splitlines()[2] in page


def test_the_api_serves_the_file_to_its_subject_and_staff_only(
    store: Store, settings: Settings, world: int
) -> None:
    ref = subject_ref(store, world)
    own = bearer(store, "person-1", "subject", subject_id=world)
    airline = bearer(
        store, "airline-1", "relying_party", measures=["no_air_travel"], purposes=["boarding"]
    )
    with TestClient(create_app(settings)) as api:
        mine = api.get(f"/v1/subjects/{ref}/file", headers=own)
        assert mine.status_code == 200, mine.text
        assert mine.json()["subject"]["ref"] == ref
        page = api.get(f"/v1/subjects/{ref}/file", params={"format": "html"}, headers=own)
        assert page.headers["content-type"].startswith("text/html")
        assert "Subject file" in page.text
        assert api.get(f"/v1/subjects/{ref}/file", headers=airline).status_code == 403


def test_candor_file_writes_json_and_html(
    store: Store, settings: Settings, world: int, tmp_path: Path
) -> None:
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    out = tmp_path / "file.html"
    done = CliRunner().invoke(
        app, ["file", f"cn_resident_id:{PERSON}", "--json", "--html", str(out)], env=env
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["subject"]["ref"] == subject_ref(store, world)
    assert len(doc["records"]) == 2
    assert "Subject file" in out.read_text(encoding="utf-8")
    unknown = CliRunner().invoke(app, ["file", f"cn_resident_id:{resident_id(99)}"], env=env)
    assert unknown.exit_code == 1
