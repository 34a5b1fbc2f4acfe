"""Rulebook activation, rating, explanations, lists and checks through the command line and the
HTTP API — the same service layer under both, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from candor.api import create_app
from candor.domain.registry import Registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from tests.helpers import as_object, bearer, record, resident_id, write_csv
from tests.test_cli import Candor

COURT = str(SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml")
RONGCHENG = str(SAMPLE_RULEBOOKS / "rongcheng-personal.yaml")
PERSON, OTHER = resident_id(11), resident_id(12)
CASE = "(2025)京0105执1号"


def _row(srid: str, who: str, record_type: str, decided: str, **attributes: Any) -> dict[str, Any]:
    row = record(srid, who, record_type=record_type, occurred_on=decided, decided_on=decided)
    for key in ("attr.case_no", "attr.amount"):
        row.pop(key)
    row.update({f"attr.{k}": str(v) for k, v in attributes.items()})
    return row


ROWS = [
    _row("c1", PERSON, "consent.scoring_granted", "2026-01-05"),
    _row("k1", PERSON, "finance.card_overdue_cycle", "2026-03-01", months=3),
    _row("u1", PERSON, "utility.theft", "2026-04-01"),
    _row("k2", OTHER, "finance.card_overdue_cycle", "2026-03-01", months=3),
    _row("f1", OTHER, "court.dishonest_debtor_finding", "2025-03-01", case_no=CASE, ground=2),
]


@pytest.fixture
def candor(database_url: str, tmp_path: Path) -> Candor:
    runner = Candor(database_url, tmp_path)
    runner.json("init")
    return runner


@pytest.fixture
def rated(candor: Candor, tmp_path: Path, registry: Registry) -> Candor:
    """Both sample rulebooks active (since 2017), the records above ingested."""
    candor.json("sources", "add", "everyone", "--types", ",".join(registry.record_types))
    for path in (COURT, RONGCHENG):
        candor.json("rulebook", "activate", path, "--effective", "2017-05-01")
    done = candor.json("ingest", str(write_csv(tmp_path / "r.csv", ROWS)), "--source", "everyone")
    assert (done["accepted"], done["rejected"]) == (len(ROWS), 0)
    return candor


def test_activation_is_idempotent_and_a_changed_version_is_refused(
    candor: Candor, tmp_path: Path
) -> None:
    first = candor.json("rulebook", "activate", COURT, "--effective", "2017-05-01")
    assert (first["rulebook"], first["version"], first["created"]) == (
        "court-dishonest-debtors",
        "2017.2",
        True,
    )
    again = candor.json("rulebook", "activate", COURT, "--effective", "2017-05-01")
    assert again["created"] is False and again["digest"] == first["digest"]

    changed = tmp_path / "court.yaml"
    changed.write_text(
        Path(COURT).read_text(encoding="utf-8").replace("years: 2", "years: 3", 1),
        encoding="utf-8",
    )
    refused = candor.json("rulebook", "activate", str(changed), code=1)
    assert "new version" in refused["error"]["detail"]

    listed = candor.json("rulebook", "list")["rulebooks"]
    assert [(r["rulebook"], r["effective_from"], r["in_force"]) for r in listed] == [
        ("court-dishonest-debtors", "2017-05-01", True)
    ]


def test_a_broken_rulebook_is_refused_naming_the_place(candor: Candor, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        Path(RONGCHENG)
        .read_text(encoding="utf-8")
        .replace("record_type: utility.theft", "record_type: utility.thef", 1),
        encoding="utf-8",
    )
    refused = candor.json("rulebook", "activate", str(broken), code=1)
    assert "broken.yaml" in refused["error"]["detail"]
    assert "utility.thef" in refused["error"]["detail"]
    assert candor.json("rulebook", "list")["rulebooks"] == []


def test_the_schema_describes_the_rulebook_file(candor: Candor) -> None:
    schema = candor.json("rulebook", "schema")
    assert {"rulebook", "version", "rules", "lists", "measures"} <= set(schema["properties"])
    assert "Rule" in schema["$defs"] and "ListSpec" in schema["$defs"]


def test_explain_shows_each_line_behind_a_score(rated: Candor) -> None:
    found = rated.json("explain", f"cn_resident_id:{PERSON}", "--as-of", "2026-11-23")
    rongcheng = next(r for r in found["rulebooks"] if r["rulebook"] == "rongcheng-personal")
    assert (rongcheng["base"], rongcheng["score"], rongcheng["grade"]) == (1000, 910, "B")
    assert rongcheng["grades_verified"] is False
    lines = {
        (c["rule"], c["points"], c["record"]["record_type"]) for c in rongcheng["contributions"]
    }
    assert lines == {
        ("overdue_card_cycle", -30, "finance.card_overdue_cycle"),
        ("utility_theft", -60, "utility.theft"),
    }
    assert all(c["legal_basis"] and c["until"] for c in rongcheng["contributions"])
    assert PERSON not in str(found)  # the subject's reference, never the identifier

    shown = rated("explain", f"cn_resident_id:{PERSON}", "--as-of", "2026-11-23")
    assert shown.exit_code == 0
    for text in ("910", "overdue_card_cycle", "utility_theft", "-60", "-30"):
        assert text in shown.stdout


def test_explain_says_why_a_person_without_consent_has_no_score(rated: Candor) -> None:
    found = rated.json("explain", f"cn_resident_id:{OTHER}", "--as-of", "2025-06-01")
    rongcheng = next(r for r in found["rulebooks"] if r["rulebook"] == "rongcheng-personal")
    assert (rongcheng["consented"], rongcheng["score"], rongcheng["contributions"]) == (
        False,
        None,
        [],
    )
    court = next(r for r in found["rulebooks"] if r["rulebook"] == "court-dishonest-debtors")
    [listing] = court["listings"]
    assert listing["in_force"] is True
    assert (listing["starts_on"], listing["until"], listing["term"]) == (
        "2025-03-11",  # decided 2025-03-01; the list warns 10 days ahead
        "2027-03-11",
        "2 years",
    )
    assert listing["record"]["record_type"] == "court.dishonest_debtor_finding"
    assert "court.obligation_performed" in listing["removal"]
    assert "no_air_travel" in listing["measures"] and listing["how_to_object"]
    assert "no consent" in rated("explain", f"cn_resident_id:{OTHER}").stdout


def test_explaining_an_unknown_or_invalid_identifier(rated: Candor) -> None:
    unknown = rated.json("explain", f"cn_resident_id:{resident_id(99)}", code=1)
    assert unknown["error"]["status"] == 404
    invalid = rated.json("explain", "cn_resident_id:110105198003070999", code=1)
    assert "check character" in invalid["error"]["detail"]
    assert "110105198003070999" not in invalid["error"]["detail"]


def test_rate_then_check_from_the_command_line(rated: Candor) -> None:
    summary = rated.json("rate")
    assert (summary["subjects"], summary["stored"]) == (2, True)
    assert set(summary["listings"]) == {"dishonest_debtors"}
    # The finding was decided 2025-03-01; after the list's 10-day warning its 2-year term runs
    # from 2025-03-11 to 2027-03-11.
    past = rated.json("rate", "--as-of", "2026-06-01")
    assert (past["grades"], past["stored"]) == ({"B": 1}, False)
    assert past["listings"] == {"dishonest_debtors": 1}
    assert rated.json("rate", "--as-of", "2027-03-11")["listings"] == {"dishonest_debtors": 0}

    answer = rated.json(
        "check", f"cn_resident_id:{OTHER}", "no_air_travel", "--as-of", "2025-06-01"
    )
    assert (answer["applies"], answer["until"]) == (True, "2027-03-11")
    assert set(answer) == {
        "measure",
        "as_of",
        "applies",
        "listing",
        "until",
        "how_to_object",
        "disputed",
    }
    after = rated.json("check", f"cn_resident_id:{OTHER}", "no_air_travel", "--as-of", "2027-03-11")
    assert after["applies"] is False
    unknown = rated.json("check", f"cn_resident_id:{OTHER}", "no_spaceflight", code=1)
    assert unknown["error"]["status"] == 404


# --- the HTTP API -------------------------------------------------------------------------------

TODAY = date.today()


@pytest.fixture
def client(settings: Settings, store: Store, registry: Registry) -> Iterator[TestClient]:
    for path in (COURT, RONGCHENG):
        activate(store, registry, Path(path), effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "everyone", list(registry.record_types))
    source = bearer(store, "everyone-client", "source", source="everyone")
    officer = bearer(store, "officer", "officer")
    with TestClient(create_app(settings), headers=officer) as test_client:
        test_client.source_headers = source  # type: ignore[attr-defined]
        yield test_client


def _submit(client: TestClient, rows: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/sources/everyone/records",
        json={"records": [as_object(r) for r in rows]},
        headers=client.source_headers,  # type: ignore[attr-defined]
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.json()


def _subject(client: TestClient, identifier: str) -> str:
    found = client.post(
        "/v1/subjects/find",
        json={"identifier": f"cn_resident_id:{identifier}", "purpose": "test"},
    )
    assert found.status_code == 200, found.json()
    ref: str = found.json()["subject"]
    return ref


def test_api_ingestion_rerates_the_subject_in_the_store(client: TestClient) -> None:
    decided = TODAY - timedelta(days=20)
    recent = decided.isoformat()
    _submit(
        client,
        [_row("f9", OTHER, "court.dishonest_debtor_finding", recent, case_no=CASE, ground=2)],
    )
    # No batch run: the ingestion re-rated the subject, so the listing is stored already.
    lists = client.get("/v1/lists").json()["lists"]
    assert [(entry["list"], entry["in_force"]) for entry in lists] == [("dishonest_debtors", 1)]
    page = client.get("/v1/lists/dishonest_debtors/entries").json()
    [entry] = page["entries"]
    assert entry["subject"] == _subject(client, OTHER)
    # In force since the list's 10-day warning ran.
    assert entry["starts_on"] == (decided + timedelta(days=10)).isoformat() and entry["listing"]
    assert page["next_after"] is None


def test_api_rating_and_explanation_by_subject_reference(client: TestClient) -> None:
    _submit(client, ROWS)
    ref = _subject(client, PERSON)
    rating = client.get(f"/v1/subjects/{ref}/rating", params={"purpose": "test"}).json()
    assert rating["ratings"] == [
        {
            "rulebook": "rongcheng-personal",
            "version": "2026.3",
            "consented": True,
            "score": 910,
            "grade": "B",
        }
    ]
    explained = client.get(
        f"/v1/subjects/{ref}/explanation", params={"as_of": "2026-06-01", "purpose": "test"}
    )
    body = explained.json()
    rongcheng = next(r for r in body["rulebooks"] if r["rulebook"] == "rongcheng-personal")
    assert sorted(c["points"] for c in rongcheng["contributions"]) == [-60, -30]
    # Before the card record was decided it did not count.
    earlier = client.get(
        f"/v1/subjects/{ref}/explanation", params={"as_of": "2026-03-15", "purpose": "test"}
    )
    rongcheng = next(
        r for r in earlier.json()["rulebooks"] if r["rulebook"] == "rongcheng-personal"
    )
    assert rongcheng["score"] == 970

    other = _subject(client, OTHER)
    listed = client.get(
        f"/v1/subjects/{other}/rating", params={"as_of": "2025-06-01", "purpose": "test"}
    ).json()
    assert [(x["list"], x["until"]) for x in listed["listings"]] == [
        ("dishonest_debtors", "2027-03-11")
    ]


def test_api_subject_errors_never_echo_the_identifier(client: TestClient) -> None:
    unknown = client.post(
        "/v1/subjects/find", json={"identifier": f"cn_resident_id:{PERSON}", "purpose": "test"}
    )
    assert unknown.status_code == 404
    assert PERSON not in unknown.text
    missing = client.get("/v1/subjects/S00000000000000000000/rating", params={"purpose": "t"})
    assert missing.status_code == 404
    assert client.get("/v1/subjects/not-a-ref/rating").status_code == 422


def test_api_lists_rulebook_versions_and_their_text(client: TestClient) -> None:
    versions = client.get("/v1/rulebooks").json()["rulebooks"]
    assert {(v["rulebook"], v["version"], v["in_force"]) for v in versions} == {
        ("court-dishonest-debtors", "2017.2", True),
        ("rongcheng-personal", "2026.3", True),
    }
    one = client.get("/v1/rulebooks/rongcheng-personal/2026.3").json()
    assert one["content"] == Path(RONGCHENG).read_text(encoding="utf-8")
    assert one["parsed"]["score"]["base"] == 1000
    assert client.get("/v1/rulebooks/rongcheng-personal/1999.1").status_code == 404
    assert "properties" in client.get("/v1/rulebooks/schema").json()
    assert client.get("/v1/lists/no_such_list/entries").status_code == 404
