"""The HTTP API in-process, over a real store."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from candor.api import create_app
from candor.domain.registry import Registry
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from candor.store.migrate import head_revision
from tests.helpers import COURT_TYPES, as_object, bearer, record, resident_id

PROBLEM = "application/problem+json"


@pytest.fixture
def client(settings: Settings, store: Store, registry: Registry) -> Iterator[TestClient]:
    add_source(store, registry, "court", COURT_TYPES)
    headers = bearer(store, "court-client", "source", source="court")
    with TestClient(create_app(settings), headers=headers) as test_client:
        yield test_client


def test_the_server_freezes_what_it_loaded_and_thaws_it_when_it_stops(
    settings: Settings, store: Store
) -> None:
    """What start-up loaded is kept out of full collections while serving (their pauses were
    the check endpoint's slowest answers), and handed back to the collector at shutdown."""
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings)) as test_client:
        assert gc.get_freeze_count() > 10_000
        assert test_client.get("/health").status_code == 200
    assert gc.get_freeze_count() == 0


def test_health_reports_the_store(client: TestClient, store: Store) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"] == store.dialect
    assert body["schema_revision"] == head_revision()


def test_openapi_documents_the_batch_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v1/sources/{source}/records" in schema["paths"]
    assert "/health" in schema["paths"]


def test_a_batch_is_checked_row_by_row_and_committed(client: TestClient) -> None:
    good = as_object(record("r1", resident_id(1)))
    bad = as_object(record("r2", resident_id(2), status="maybe"))

    response = client.post("/v1/sources/court/records", json={"records": [good, bad]})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"], body["duplicates"]) == (1, 1, 0)
    assert body["rejects"] == [
        {
            "row": 2,
            "field": "status",
            "reason": "'maybe' is not a status; expected final, under_review or overturned",
            "source_record_id": "r2",
        }
    ]
    again = client.post("/v1/sources/court/records", json={"records": [good]}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_a_source_submits_only_for_itself(client: TestClient) -> None:
    response = client.post("/v1/sources/nobody/records", json={"records": []})
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:candor:problem:forbidden"


def test_an_oversized_batch_is_refused_whole(client: TestClient, settings: Settings) -> None:
    objects = [
        as_object(record(f"r{i}", resident_id(i % 900))) for i in range(settings.api_max_batch + 1)
    ]
    response = client.post("/v1/sources/court/records", json={"records": objects})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["limit"] == settings.api_max_batch


def test_a_malformed_body_is_a_422_problem_that_echoes_nothing(client: TestClient) -> None:
    identifier = resident_id(7)
    response = client.post("/v1/sources/court/records", json={"records": identifier})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert identifier not in response.text
    assert response.json()["errors"][0]["location"] == "body.records"


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    wrong = client.get("/v1/sources/court/records")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "urn:candor:problem:method-not-allowed"


def test_a_bad_source_name_in_the_path_is_refused(client: TestClient) -> None:
    response = client.post("/v1/sources/NOT%20A%20NAME/records", json={"records": []})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
