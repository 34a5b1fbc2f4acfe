"""Checks over HTTP, single and bulk, on SQLite and PostgreSQL: answers, errors and the log.

The store is built through candor's services: the court rulebook activated, records ingested,
everyone rated for TODAY. Dates asked about are explicit, so that no answer depends on the day
the tests run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from candor.api import create_app
from candor.domain.registry import Registry
from candor.services.checks import BULK_CHECK_LIMIT, CheckLog, check_many
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, rerate_subject, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import checks as stored_checks
from candor.store import ratings as stored_ratings
from candor.store.database import Store
from candor.store.tables import checks
from tests.helpers import bearer, record_object, resident_id

TODAY = date(2026, 11, 23)
# A final finding (ground 2) decided 2025-03-01: listed from 2025-03-11, when the list's 10-day
# warning has run, until 2027-03-11.
LISTED = resident_id(1)
CLEAN = resident_id(2)  # an enforcement order only: known, never listed
UNKNOWN = resident_id(3)  # valid, but candor holds nothing about it
BAD_CHECK = LISTED[:-1] + ("0" if LISTED[-1] != "0" else "1")  # fails the check character
PROBLEM = "application/problem+json"
ANSWER_KEYS = {"measure", "as_of", "applies", "listing", "until", "how_to_object", "disputed"}
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}


def _ingest_unrated(store: Store, settings: Settings, registry: Registry, rows: list[Any]) -> None:
    """Ingest as a file would be: the records' subjects are left stale until checked or rated."""
    unrated = dataclasses.replace(settings, rerate_inline_max=0)
    result = ingest_objects(store, unrated, registry, "court", rows, today=TODAY)
    assert result.summary()["rejected"] == 0, result.summary()


@pytest.fixture
def deployment(store: Store, settings: Settings, registry: Registry) -> Store:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )
    add_source(
        store, registry, "court", [t for t in registry.record_types if t.startswith("court.")]
    )
    rows = [
        record_object(
            "f1", LISTED, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
        ),
        record_object(
            "e1",
            CLEAN,
            "court.enforcement_order",
            "2025-01-10",
            attributes={"case_no": "(2025)京0105执2号", "amount": 1000},
        ),
    ]
    result = ingest_objects(store, settings, registry, "court", rows, today=TODAY)
    assert result.summary()["rejected"] == 0, result.summary()
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    return store


PURPOSES = ["ticket sale", "boarding", "p", "rail ticket"]


@pytest.fixture
def client(deployment: Store, settings: Settings) -> Iterator[TestClient]:
    headers = bearer(
        deployment,
        "airline-ca",
        "relying_party",
        measures=["no_air_travel", "no_high_speed_rail"],
        purposes=PURPOSES,
    )
    with TestClient(create_app(settings), headers=headers) as test_client:
        yield test_client


def _check(client: TestClient, identifier: Any, **body: Any) -> Any:
    doc = {"measure": "no_air_travel", "purpose": "ticket sale", "as_of": "2026-12-01", **body}
    return client.post("/v1/checks", json={"identifier": identifier, **doc})


def _logged(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(checks).order_by(checks.c.id))]


# --- single checks -----------------------------------------------------------------------------


def test_a_listed_person_is_refused_and_told_until_when(client: TestClient) -> None:
    response = _check(client, f"cn_resident_id:{LISTED}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ANSWER_KEYS  # the answer, and nothing else about the subject
    assert (body["applies"], body["until"], body["as_of"]) == (True, "2027-03-11", "2026-12-01")
    assert body["listing"] and body["how_to_object"]


def test_an_earlier_date_is_answered_as_of_that_date(client: TestClient) -> None:
    now = _check(client, f"cn_resident_id:{LISTED}").json()
    then = _check(client, f"cn_resident_id:{LISTED}", as_of="2025-06-01").json()
    before = _check(client, f"cn_resident_id:{LISTED}", as_of="2025-02-28").json()
    assert (then["applies"], then["until"]) == (True, "2027-03-11")
    assert then["listing"] == now["listing"]  # the same stored listing, by its reference
    assert before["applies"] is False


def test_the_measure_does_not_apply_to_others_or_after_the_term(client: TestClient) -> None:
    for identifier in (f"cn_resident_id:{CLEAN}", f"cn_resident_id:{UNKNOWN}"):
        body = _check(client, identifier).json()
        assert (body["applies"], body["listing"], body["until"]) == (False, None, None)
        assert body["how_to_object"] is None
    after = _check(client, f"cn_resident_id:{LISTED}", as_of="2027-03-11").json()
    assert after["applies"] is False


def test_an_identifier_may_come_as_scheme_and_value(client: TestClient) -> None:
    body = _check(client, {"scheme": "cn_resident_id", "identifier": LISTED}).json()
    assert body["applies"] is True


def test_records_arriving_after_the_rating_are_rated_before_the_answer(
    client: TestClient, deployment: Store, settings: Settings, registry: Registry
) -> None:
    late = resident_id(4)
    assert _check(client, f"cn_resident_id:{late}").json()["applies"] is False
    finding = record_object(
        "f9", late, "court.dishonest_debtor_finding", "2026-11-20", attributes=FINDING
    )
    _ingest_unrated(deployment, settings, registry, [finding])
    body = _check(client, f"cn_resident_id:{late}").json()
    assert (body["applies"], body["until"]) == (True, "2028-11-30")


def test_a_measure_the_client_is_not_registered_for_is_a_403_naming_it(
    client: TestClient, deployment: Store
) -> None:
    response = _check(client, f"cn_resident_id:{LISTED}", measure="no_bicycles")
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "no_bicycles" in response.json()["detail"]
    assert "no_air_travel" in response.json()["detail"]  # what it may check instead
    assert _logged(deployment) == []  # refused before anything was looked up


@pytest.mark.parametrize(
    ("identifier", "rule"),
    [
        (f"cn_resident_id:{BAD_CHECK}", "check character"),
        (f"cn_resident_id:{LISTED[:10]}", "18 characters"),
        (f"passport:{LISTED}", "unknown identifier scheme"),
        (LISTED, "SCHEME:IDENTIFIER"),
    ],
)
def test_an_invalid_identifier_is_a_422_naming_the_rule_never_the_identifier(
    client: TestClient, deployment: Store, identifier: str, rule: str
) -> None:
    response = _check(client, identifier)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:candor:problem:invalid-identifier"
    assert rule in body["detail"]
    assert identifier.rpartition(":")[2][:10] not in response.text
    assert _logged(deployment) == []  # nothing was checked, so nothing is logged


@pytest.mark.parametrize("purpose", [None, "", "   "])
def test_a_check_without_a_purpose_is_refused(client: TestClient, purpose: str | None) -> None:
    doc: dict[str, Any] = {"identifier": f"cn_resident_id:{LISTED}", "measure": "no_air_travel"}
    if purpose is not None:
        doc["purpose"] = purpose
    response = client.post("/v1/checks", json=doc)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["location"] == "body.purpose"
    assert LISTED not in response.text


def test_every_check_is_logged_with_client_and_purpose(
    client: TestClient, deployment: Store, settings: Settings
) -> None:
    rail = bearer(
        deployment,
        "rail-12306",
        "relying_party",
        measures=["no_high_speed_rail"],
        purposes=["rail ticket"],
    )
    _check(client, f"cn_resident_id:{LISTED}")
    client.post(
        "/v1/checks",
        json={
            "identifier": f"cn_resident_id:{UNKNOWN}",
            "measure": "no_high_speed_rail",
            "purpose": "  rail ticket  ",
            "as_of": "2026-12-01",
        },
        headers=rail,
    )
    listed = subject_id_for(
        deployment, load_secret(settings).identifier_hasher(), f"cn_resident_id:{LISTED}", TODAY
    )
    first, second = _logged(deployment)
    assert (first["client"], first["purpose"], first["measure"]) == (
        "airline-ca",
        "ticket sale",
        "no_air_travel",
    )
    assert (first["subject_id"], first["applies"], first["until"]) == (
        listed,
        True,
        date(2027, 3, 11),
    )
    assert first["listing_id"] is not None and first["as_of"] == date(2026, 12, 1)
    assert abs(first["checked_at"] - datetime.now(UTC)).total_seconds() < 60
    assert (second["client"], second["purpose"], second["subject_id"], second["applies"]) == (
        "rail-12306",
        "rail ticket",
        None,
        False,
    )


def test_the_checks_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "Relying parties only" in paths["/v1/checks"]["post"]["description"]
    bulk = paths["/v1/checks/bulk"]["post"]
    schema = bulk["requestBody"]["content"]["application/json"]["schema"]
    assert {"measure", "purpose", "identifiers"} <= set(schema["properties"])
    assert "$ref" not in orjson.dumps(schema).decode()  # written in place, nothing dangling


# --- bulk checks -------------------------------------------------------------------------------


def _bulk(client: TestClient, identifiers: list[Any], **body: Any) -> Any:
    doc = {"measure": "no_air_travel", "purpose": "boarding", "as_of": "2026-12-01", **body}
    return client.post("/v1/checks/bulk", json={**doc, "identifiers": identifiers})


def test_bulk_answers_come_in_order_with_an_error_per_invalid_identifier(
    client: TestClient,
) -> None:
    single = _check(client, f"cn_resident_id:{LISTED}").json()
    response = _bulk(
        client,
        [
            f"cn_resident_id:{LISTED}",
            f"cn_resident_id:{UNKNOWN}",
            f"cn_resident_id:{BAD_CHECK}",
            {"scheme": "cn_resident_id", "identifier": LISTED},
            f"cn_resident_id:{CLEAN}",
            "no colon here",
            42,
            f" cn_resident_id:{LISTED.lower()}",  # a scheme with a blank is no scheme
        ],
    )
    assert response.status_code == 200
    body = response.json()
    listed = {
        "applies": True,
        "listing": single["listing"],
        "until": "2027-03-11",
        "disputed": False,
    }
    no = {"applies": False, "listing": None, "until": None, "disputed": False}
    answers = body["answers"]
    assert answers[:2] == [listed, no]
    assert "check character" in answers[2]["error"]
    assert answers[3:5] == [listed, no]
    assert all("error" in a for a in answers[5:])
    assert (body["checked"], body["applies"], body["invalid"]) == (4, 2, 4)
    assert BAD_CHECK[:10] not in response.text


def test_bulk_answers_an_earlier_date_and_rerates_changed_subjects(
    client: TestClient, deployment: Store, settings: Settings, registry: Registry
) -> None:
    late = resident_id(5)
    finding = record_object(
        "f8", late, "court.dishonest_debtor_finding", "2026-11-21", attributes=FINDING
    )
    _ingest_unrated(deployment, settings, registry, [finding])
    refs = [f"cn_resident_id:{LISTED}", f"cn_resident_id:{late}"]
    now = _bulk(client, refs).json()["answers"]
    assert [a["until"] for a in now] == ["2027-03-11", "2028-12-01"]
    then = _bulk(client, refs, as_of="2025-06-01").json()["answers"]
    assert [a["applies"] for a in then] == [True, False]
    assert then[0] == now[0]


def test_bulk_checks_are_logged_in_bulk(client: TestClient, deployment: Store) -> None:
    refs = [f"cn_resident_id:{resident_id(n)}" for n in range(1, 40)] + ["bad"]
    response = _bulk(client, refs)
    assert response.status_code == 200
    rows = _logged(deployment)
    # The invalid one was not checked; the 37 naming no subject share one row with their count.
    assert sum(r["times"] for r in rows) == 39
    assert {(r["client"], r["purpose"], r["measure"]) for r in rows} == {
        ("airline-ca", "boarding", "no_air_travel")
    }
    assert len({(r["checked_at"], r["as_of"]) for r in rows}) == 1
    known = [r for r in rows if r["subject_id"] is not None]
    assert [r["times"] for r in known] == [1, 1]
    assert sum(1 for r in known if r["applies"]) == 1
    unnamed = [r for r in rows if r["subject_id"] is None]
    assert [(r["times"], r["applies"], r["listing_id"], r["until"]) for r in unnamed] == [
        (37, False, None, None)
    ]


def test_a_bulk_check_of_known_subjects_only_logs_no_counted_row(
    client: TestClient, deployment: Store
) -> None:
    assert _bulk(client, [f"cn_resident_id:{LISTED}", f"cn_resident_id:{CLEAN}"]).status_code == 200
    assert [(r["subject_id"] is not None, r["times"]) for r in _logged(deployment)] == [
        (True, 1),
        (True, 1),
    ]


def test_single_checks_of_unknown_identifiers_keep_a_row_each(
    client: TestClient, deployment: Store
) -> None:
    for _ in range(2):
        _check(client, f"cn_resident_id:{UNKNOWN}")
    assert [(r["subject_id"], r["times"]) for r in _logged(deployment)] == [(None, 1), (None, 1)]


def test_bulk_logs_the_authenticated_client(client: TestClient, deployment: Store) -> None:
    client.post(
        "/v1/checks/bulk",
        json={
            "measure": "no_air_travel",
            "purpose": "boarding",
            "identifiers": [f"other:{UNKNOWN}x"],
        },
    )
    assert [r["client"] for r in _logged(deployment)] == ["airline-ca"]


def test_bulk_refuses_more_than_its_cap_whole(client: TestClient, deployment: Store) -> None:
    body = (
        b'{"measure":"no_air_travel","purpose":"p","identifiers":['
        + b",".join([b'"x"'] * (BULK_CHECK_LIMIT + 1))
        + b"]}"
    )
    response = client.post(
        "/v1/checks/bulk", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["limit"] == BULK_CHECK_LIMIT
    assert _logged(deployment) == []


@pytest.mark.parametrize(
    ("body", "status", "location"),
    [
        ({"measure": "no_bicycles", "purpose": "p", "identifiers": []}, 403, None),
        ({"measure": "no_air_travel", "purpose": "curiosity", "identifiers": []}, 403, None),
        ({"measure": "no_air_travel", "identifiers": []}, 422, "body.purpose"),
        ({"measure": "no_air_travel", "purpose": "p", "identifiers": "x"}, 422, "body.identifiers"),
        (
            {"measure": "no_air_travel", "purpose": "p", "as_of": "soon", "identifiers": []},
            422,
            "body.as_of",
        ),
    ],
)
def test_bulk_request_errors_are_problems(
    client: TestClient, body: dict[str, Any], status: int, location: str | None
) -> None:
    response = client.post("/v1/checks/bulk", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    if location:
        assert response.json()["errors"][0]["location"] == location


def test_a_body_that_is_not_json_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/v1/checks/bulk", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_the_service_caps_bulk_checks_too(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    from candor.errors import PayloadTooLarge  # noqa: PLC0415

    hasher = load_secret(settings).identifier_hasher()
    with pytest.raises(PayloadTooLarge):
        check_many(
            deployment,
            registry,
            hasher,
            ["a", "b", "c"],
            "no_air_travel",
            as_of=TODAY,
            today=TODAY,
            client="c",
            purpose="p",
            limit=2,
        )


# --- the log and the store's reads -----------------------------------------------------------


def _row(subject_id: int | None = None) -> stored_checks.LogRow:
    return (datetime.now(UTC), "c", "p", "no_air_travel", TODAY, subject_id, False, None, None)


def test_checks_answered_together_share_one_commit(deployment: Store) -> None:
    log = CheckLog(deployment)

    async def many() -> None:
        await asyncio.gather(*(log.write(_row()) for _ in range(50)))

    try:
        asyncio.run(many())
        # All 50 were queued in one turn of the loop; the writer may have taken the first alone.
        assert log.rows == 50
        assert log.commits <= 2
    finally:
        log.close()
    assert len(_logged(deployment)) == 50


def test_a_steady_stream_of_checks_is_committed_in_groups(deployment: Store) -> None:
    """Rows arriving one at a time, faster than ``linger`` apart: once the writer has seen the
    rate, it waits for the rows it expects instead of committing each alone."""
    log = CheckLog(deployment, linger=0.05)

    async def stream() -> None:
        pending = []
        for _ in range(60):
            pending.append(asyncio.ensure_future(log.write(_row())))
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending)

    try:
        asyncio.run(stream())
        assert log.rows == 60
        assert log.commits <= 12, log.commits  # one each would be 60
    finally:
        log.close()
    assert len(_logged(deployment)) == 60


def test_a_failed_commit_fails_every_check_of_its_batch(deployment: Store) -> None:
    log = CheckLog(deployment)

    async def batch() -> list[Any]:
        # A subject that does not exist breaks the foreign key: the whole batch is refused.
        return await asyncio.gather(
            log.write(_row()), log.write(_row(10**9)), return_exceptions=True
        )

    try:
        results = asyncio.run(batch())
    finally:
        log.close()
    assert all(isinstance(r, Exception) for r in results)
    assert _logged(deployment) == []


def test_the_check_reads_agree_with_the_rating_store(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    """``candor.store.checks`` restates when stored listings answer; hold it to
    ``candor.store.ratings``: never rated, rated by the run, stale, re-rated."""
    hasher = load_secret(settings).identifier_hasher()
    fresh = resident_id(6)
    finding = record_object(
        "f7", fresh, "court.dishonest_debtor_finding", "2026-11-22", attributes=FINDING
    )
    _ingest_unrated(deployment, settings, registry, [finding])
    later = record_object(
        "e7",
        CLEAN,
        "court.enforcement_order",
        "2026-11-22",
        attributes={"case_no": "(2026)京0105执7号", "amount": 5},
    )
    _ingest_unrated(deployment, settings, registry, [later])
    subjects = {
        ref: subject_id_for(deployment, hasher, f"cn_resident_id:{ref}", TODAY)
        for ref in (LISTED, CLEAN, fresh)
    }
    ids = [s for s in subjects.values() if s is not None]
    assert len(ids) == 3
    rerate_subject(deployment, registry, subjects[CLEAN], today=TODAY)  # type: ignore[arg-type]
    reads = stored_checks.DriverReads(deployment, 1)
    try:
        with deployment.read() as conn:
            bulk = stored_checks.rating_state(conn)
            expected = {
                s: (stored_ratings.is_stale(conn, s), stored_ratings.rated_as_of(conn, s))
                for s in ids
            }
        for ref, subject in subjects.items():
            assert subject is not None
            one = reads.state(hasher.hashed([("cn_resident_id", ref)]))
            assert one.subject_id == subject
            assert (one.stale, one.rated_for) == expected[subject]
            assert (bulk.stale(subject), bulk.rated_for(subject)) == expected[subject]
        assert expected[subjects[fresh]][0] is True  # the cases really differ
        assert expected[subjects[LISTED]][0] is False
    finally:
        reads.close()
    with deployment.read() as conn:
        assert conn.execute(select(func.count()).select_from(checks)).scalar_one() == 0
