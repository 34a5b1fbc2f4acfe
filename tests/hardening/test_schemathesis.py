"""Property-based tests of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets valid and invalid input — schemathesis' positive and negative generation,
its coverage phase (boundaries, missing and wrong-typed values, unsupported methods, missing
credentials) and the schema's examples — sent in-process to the ASGI app over a real SQLite
store built like the ``world`` of ``tests/test_access.py``: the two sample rulebooks, a court
source, a listed and a clean subject, rated, and one client of every role. Each generated
request is sent once without credentials and once with the credential of every role, so every
endpoint is walked as every principal. For every response:

- no 5xx, whatever the input;
- an error (status >= 400) is ``application/problem+json`` with the RFC 9457 members
  ``type``, ``title``, ``status`` (the HTTP status) and ``detail``; a 401 carries
  ``WWW-Authenticate: Bearer``, a 405 ``Allow`` and a 429 ``Retry-After``;
- a success is JSON.

Generated path parameters and bodies are sometimes swapped for values the world holds (a
subject's reference, the court, a list, a rulebook version, the relying party's measure and
purpose), so that requests also get past "not found" and "forbidden" to the code behind.
What a schema cannot describe — a body that is not JSON or not UTF-8, a wrong Content-Type,
numbers beyond 64 bits, a method or a path that does not exist — is sent by the explicit tests
at the end.

Reproducible: Hypothesis runs derandomized (the same examples on every run and machine).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import requests
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

import candor.services.clients
from candor.api import create_app
from candor.domain.access import Role
from candor.services.clients import add_client
from candor.services.explain import subject_ref
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, subject_id_for
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import open_store
from tests.conftest import TODAY
from tests.helpers import COURT_TYPES, record_object, resident_id

PROBLEM = "application/problem+json"
LISTED, CLEAN = resident_id(1), resident_id(2)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2, "aggravated": False}
PRINCIPALS = list(Role)  # a client of every role, and Role.PUBLIC: no credentials

# The schema as the app publishes it. Building an app opens nothing (its lifespan opens the
# store), so the schema is read at import, for collection; the requests go to the app of the
# module's world below.
API = create_app(Settings.load(environ={})).openapi()
schema = schemathesis.openapi.from_dict(API)


@dataclass
class World:
    app: FastAPI
    headers: dict[Role, dict[str, str]]
    officer_token: str
    listed_ref: str
    clean_ref: str


KNOWN: dict[str, World] = {}
"""The module's world, for the generation hooks below (they run while the tests run)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """tests/test_access.py's world, once for the module, on SQLite."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    deployment = Settings.load(
        environ={},
        database_url=f"sqlite:///{tmp / 'candor.db'}",
        secret_file=tmp / "candor.secret",
        # Every request without credentials comes from one address: the public rate limit
        # (600 a minute) would otherwise answer most of them with a 429.
        public_rate_per_minute=10**9,
    )
    init_deployment(deployment)
    registry = load_registry(deployment)
    with pytest.MonkeyPatch.context() as mp, open_store(deployment.database_url) as store:
        # Cheap token hashes, as tests/conftest.py's _quick_token_hashes does per test.
        mp.setattr(
            candor.services.clients, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024)
        )
        for name in ("court-dishonest-debtors.yaml", "rongcheng-personal.yaml"):
            activate(
                store, registry, SAMPLE_RULEBOOKS / name, effective=date(2017, 5, 1), today=TODAY
            )
        add_source(store, registry, "court", COURT_TYPES)
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
        ingested = ingest_objects(store, deployment, registry, "court", rows, today=TODAY)
        assert ingested.rejected == 0
        rate_all(store, registry, as_of=TODAY, today=TODAY)
        hasher = load_secret(deployment).identifier_hasher()
        listed = subject_id_for(store, hasher, f"cn_resident_id:{LISTED}", TODAY)
        clean = subject_id_for(store, hasher, f"cn_resident_id:{CLEAN}", TODAY)
        assert listed is not None and clean is not None
        added = {
            Role.SOURCE: add_client(store, "court-feed", Role.SOURCE, source="court"),
            Role.OFFICER: add_client(store, "officer-li", Role.OFFICER),
            Role.REVIEWER: add_client(store, "reviewer-wang", Role.REVIEWER),
            Role.RELYING_PARTY: add_client(
                store,
                "airline-ca",
                Role.RELYING_PARTY,
                measures=["no_air_travel"],
                purposes=["boarding"],
            ),
            Role.SUBJECT: add_client(store, "subject-one", Role.SUBJECT, subject_id=listed),
            Role.AUDITOR: add_client(store, "auditor-zhao", Role.AUDITOR),
        }
        made = World(
            create_app(deployment),
            {r: {"Authorization": f"Bearer {a.token.token}"} for r, a in added.items()}
            | {Role.PUBLIC: {}},
            added[Role.OFFICER].token.token,
            subject_ref(store, listed),
            subject_ref(store, clean),
        )
    KNOWN["world"] = made
    try:
        yield made
    finally:
        KNOWN.clear()
        # schemathesis starts the app's lifespan at the first request and keeps it for the
        # process; stopping it closes the store and the check log's writer thread.
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[requests.Session]:
    """A client of the same running app (a second lifespan would replace its store)."""
    with asgi.get_client(world.app) as session:
        yield session


# --- steering part of the generated input towards what the world holds ---------------------------


def _known_path_parameters(path: dict[str, Any]) -> list[dict[str, Any]]:
    world = KNOWN.get("world")
    if world is None:
        return []
    if "subject" in path:
        return [{**path, "subject": ref} for ref in (world.listed_ref, world.clean_ref)]
    if "source" in path:
        return [{**path, "source": "court"}]
    if {"name", "version"} <= set(path):
        return [{**path, "name": "court-dishonest-debtors", "version": "2017.2"}]
    if "name" in path:
        return [{**path, "name": name} for name in ("dishonest_debtors", "red_list")]
    return []


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: Any
) -> st.SearchStrategy[Any]:
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, *_known_path_parameters(path_parameters)])


@schema.hook
def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
    """Staff state a purpose for every read of a subject: often, give one."""
    path = context.operation.path if context.operation else ""
    if not path.startswith("/v1/subjects/") or not isinstance(query, dict):
        return st.just(query)
    return st.sampled_from([query, {**query, "purpose": "schemathesis"}])


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """A registered measure and purpose, a known identifier, real client credentials."""
    world = KNOWN.get("world")
    if not isinstance(body, dict) or world is None:
        return st.just(body)
    known = dict(body)
    if "measure" in body:
        known |= {"measure": "no_air_travel", "purpose": "boarding"}
    if "identifier" in body:
        known["identifier"] = f"cn_resident_id:{LISTED}"
    if isinstance(body.get("identifiers"), list):
        known["identifiers"] = [f"cn_resident_id:{LISTED}", *body["identifiers"][:3]]
    if "grant_type" in body:
        known |= {
            "grant_type": "client_credentials",
            "client_id": "officer-li",
            "client_secret": world.officer_token,
        }
    return st.sampled_from([body, known]) if known != body else st.just(body)


# --- the properties ------------------------------------------------------------------------------


def _header(response: schemathesis.Response | requests.Response, name: str) -> list[str]:
    if isinstance(response, requests.Response):
        value = response.headers.get(name)
        return [] if value is None else [value]
    # schemathesis keeps every header as the list of its values, under a lower-case name.
    return response.headers.get(name.lower(), [])


def check_response(response: schemathesis.Response | requests.Response, label: str) -> None:
    """What every response must be, whatever was asked and by whom."""
    status = response.status_code
    assert status < 500, f"{label}: {status} {response.content[:500]!r}"
    content_type = _header(response, "content-type")
    if status < 400:
        url = str(getattr(response.request, "url", ""))
        if "/file?" in url and "format=html" in url:  # the subject file as a printable page
            assert content_type == ["text/html; charset=utf-8"], f"{label}: {content_type}"
            assert response.content.startswith(b"<!DOCTYPE html>")
            return
        assert content_type == ["application/json"], f"{label}: {status} as {content_type}"
        json.loads(response.content)
        return
    assert content_type == [PROBLEM], f"{label}: {status} as {content_type}"
    body = json.loads(response.content)
    assert isinstance(body, dict), f"{label}: {status} body is not a JSON object"
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"{label}: a problem without {sorted(missing)}: {body}"
    assert body["status"] == status, f"{label}: problem status {body['status']} != {status}"
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], f"{label}: {member}: {body}"
    if status == 401:
        [challenge] = _header(response, "www-authenticate")
        assert challenge.startswith("Bearer"), f"{label}: 401 with {challenge!r}"
    if status == 405:
        assert _header(response, "allow"), f"{label}: 405 without Allow"
    if status == 429:
        assert _header(response, "retry-after"), f"{label}: 429 without Retry-After"


def send_as_everyone(case: schemathesis.Case, world: World) -> None:
    """The generated request, as the public and as a client of every role."""
    for principal in PRINCIPALS:
        headers = dict(world.headers[principal])  # a copy: the transport adds to it
        response = case.call(app=world.app, headers=headers)
        try:
            check_response(response, f"as {principal.value}")
        except AssertionError as e:
            e.add_note(f"reproduce with: {case.as_curl_command(headers=headers)}")
            raise


FUZZ = settings(
    deadline=None,  # in-process requests over SQLite: timing says nothing here
    derandomize=True,
    # Whole requests are drawn from JSON Schemas (and, negated, filtered back out of them):
    # slower to generate, and filtered more, than Hypothesis' health checks expect.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@settings(FUZZ, max_examples=25)
def test_every_operation_as_every_principal(case: schemathesis.Case, world: World) -> None:
    send_as_everyone(case, world)


@pytest.mark.slow
@schema.parametrize()
# Generated cases only: the explicit ones (coverage phase, schema examples) ran above.
@settings(FUZZ, max_examples=80, phases=[Phase.generate, Phase.target, Phase.shrink])
def test_every_operation_as_every_principal_at_length(
    case: schemathesis.Case, world: World
) -> None:
    send_as_everyone(case, world)


# --- what a schema does not describe -------------------------------------------------------------


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, spec)
        for path, methods in API["paths"].items()
        for method, spec in methods.items()
    ]


def _url(path: str) -> str:
    known = _known_path_parameters(
        {p: "x" for p in ("subject", "source", "name", "version") if f"{{{p}}}" in path}
    )
    return path.format(**known[0]) if known else path


MALFORMED_BODIES: dict[str, tuple[str | None, bytes]] = {
    "not JSON": ("application/json", b'{"measure": '),
    "not UTF-8": ("application/json", b'{"measure": "\xff\xfe"}'),
    "a lone surrogate": ("application/json", b'{"measure": "\\ud800", "link": "\\udc00"}'),
    "nested deeper than any parser goes": ("application/json", b"[" * 100_000 + b"]" * 100_000),
    "a 5,000-digit number": ("application/json", b'{"identifiers": [' + b"9" * 5000 + b"]}"),
    "JSON's NaN": ("application/json", b'{"as_of": NaN, "identifiers": [Infinity]}'),
    "JSON as text/plain": ("text/plain", b'{"measure": "no_air_travel"}'),
    "JSON as a form": ("application/x-www-form-urlencoded", b'{"grant_type": 1}'),
    "a form of invalid UTF-8": ("application/x-www-form-urlencoded", b"grant_type=%FF%FE"),
    "multipart without a boundary": ("multipart/form-data", b"--x\r\n\r\n--x--"),
    "no Content-Type": (None, b'{"records": []}'),
    "an empty body": ("application/json", b""),
}


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda r: r.value)
def test_malformed_requests_are_answered_with_problems(
    client: requests.Session, world: World, principal: Role
) -> None:
    auth = world.headers[principal]
    for method, path, spec in _operations():
        url = _url(path)
        label = f"as {principal.value}: {method} {url}"
        if "requestBody" in spec:
            for name, (content_type, body) in MALFORMED_BODIES.items():
                headers = auth if content_type is None else {**auth, "Content-Type": content_type}
                response = client.request(method, url, data=body, headers=headers)
                check_response(response, f"{label} with {name}")
                if principal is Role.RELYING_PARTY and path.startswith("/v1/checks"):
                    assert response.status_code in (400, 422), (label, name, response.text)
        for other in ("PUT", "PATCH", "DELETE"):
            response = client.request(other, url, headers=auth)
            check_response(response, f"as {principal.value}: {other} {url}")
            assert response.status_code == 405
        response = client.request(method, url + "/nothing-here", headers=auth)
        check_response(response, f"{label}/nothing-here")
        assert response.status_code in (404, 405)


def _integer_parameters() -> list[tuple[str, str, str]]:
    return [
        (method, path, parameter["name"])
        for method, path, spec in _operations()
        for parameter in spec.get("parameters", [])
        if parameter["in"] == "query" and parameter["schema"].get("type") == "integer"
    ]


@pytest.mark.parametrize("principal", [Role.PUBLIC, Role.OFFICER], ids=lambda r: r.value)
def test_integers_beyond_64_bits_are_refused_not_overflowed(
    client: requests.Session, world: World, principal: Role
) -> None:
    params = _integer_parameters()
    assert ("GET", "/v1/lists/{name}/entries", "after") in params
    for method, path, name in params:
        for value in (str(2**63), str(2**64), str(-(2**63) - 1), "9" * 5000):
            url = _url(path)
            response = client.request(
                method, url, params={name: value}, headers=world.headers[principal]
            )
            check_response(response, f"{method} {url}?{name}={value[:30]}")
            assert response.status_code == 422, (path, name, response.text)
