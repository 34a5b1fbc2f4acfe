"""Access control: the role × endpoint matrix, tokens, access tokens, sign-in links, purpose
binding, rate limits, the daily bulk allowance and the access log — over a real store."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from argon2 import Type, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import select

import candor.services.authentication
from candor.api import create_app
from candor.api.auth import DOCUMENTATION, matrix, matrix_markdown
from candor.domain.access import Role
from candor.domain.registry import Registry
from candor.services.authentication import Authenticator
from candor.services.clients import add_client, revoke, sign_in_link
from candor.services.explain import subject_ref
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all, subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from candor.store.tables import client_tokens
from tests.conftest import ORIGINAL_TOKEN_HASHER, TODAY
from tests.helpers import COURT_TYPES, as_object, record, record_object, resident_id

PROBLEM = "application/problem+json"
LISTED, CLEAN = resident_id(1), resident_id(2)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2, "aggravated": False}
DOCS = Path(__file__).parents[1] / "docs" / "access.md"


@dataclass
class World:
    store: Store
    settings: Settings
    registry: Registry
    headers: dict[Role, dict[str, str]]
    tokens: dict[Role, str]
    listed_ref: str
    clean_ref: str
    listed_id: int


def _header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(settings: Settings, store: Store, registry: Registry) -> World:
    for name in ("court-dishonest-debtors.yaml", "rongcheng-personal.yaml"):
        activate(store, registry, SAMPLE_RULEBOOKS / name, effective=date(2017, 5, 1), today=TODAY)
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
    assert ingest_objects(store, settings, registry, "court", rows, today=TODAY).rejected == 0
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    hasher = load_secret(settings).identifier_hasher()
    listed = subject_id_for(store, hasher, f"cn_resident_id:{LISTED}", TODAY)
    clean = subject_id_for(store, hasher, f"cn_resident_id:{CLEAN}", TODAY)
    assert listed is not None and clean is not None
    tokens = {
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
    return World(
        store,
        settings,
        registry,
        {role: _header(t.token.token) for role, t in tokens.items()} | {Role.PUBLIC: {}},
        {role: t.token.token for role, t in tokens.items()},
        subject_ref(store, listed),
        subject_ref(store, clean),
        listed,
    )


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as client:
        yield client


# --- the matrix ---------------------------------------------------------------------------------

Call = Callable[[World], dict[str, Any]]
# One request per route that a caller allowed to call it gets past access control with. A route
# missing here fails test_every_route_is_walked: a new route must be added to the walk.
WALK: dict[tuple[str, str], Call] = {
    ("GET", "/health"): lambda w: {},
    ("GET", "/.well-known/jwks.json"): lambda w: {},
    ("GET", "/v1/me"): lambda w: {},
    ("POST", "/v1/oauth/token"): lambda w: {
        "data": {
            "grant_type": "client_credentials",
            "client_id": "officer-li",
            "client_secret": w.tokens[Role.OFFICER],
        }
    },
    ("POST", "/v1/auth/sign-in"): lambda w: {
        "json": {"link": sign_in_link(w.store, w.listed_id).token}
    },
    ("POST", "/v1/checks"): lambda w: {
        "json": {
            "identifier": f"cn_resident_id:{LISTED}",
            "measure": "no_air_travel",
            "purpose": "boarding",
        }
    },
    ("POST", "/v1/checks/bulk"): lambda w: {
        "json": {
            "identifiers": [f"cn_resident_id:{LISTED}"],
            "measure": "no_air_travel",
            "purpose": "boarding",
        }
    },
    ("POST", "/v1/sources/{source}/records"): lambda w: {
        "path": {"source": "court"},
        "json": {"records": [as_object(record("r9", CLEAN))]},
    },
    ("POST", "/v1/subjects/find"): lambda w: {
        "json": {"identifier": f"cn_resident_id:{LISTED}", "purpose": "matrix walk"}
    },
    ("GET", "/v1/subjects/{subject}/rating"): lambda w: {
        "path": {"subject": w.listed_ref},
        "params": {"purpose": "matrix walk"},
    },
    ("GET", "/v1/subjects/{subject}/explanation"): lambda w: {
        "path": {"subject": w.listed_ref},
        "params": {"purpose": "matrix walk"},
    },
    ("GET", "/v1/subjects/{subject}/accesses"): lambda w: {
        "path": {"subject": w.listed_ref},
        "params": {"purpose": "matrix walk"},
    },
    ("GET", "/v1/subjects/{subject}/file"): lambda w: {
        "path": {"subject": w.listed_ref},
        "params": {"purpose": "matrix walk"},
    },
    ("GET", "/v1/lists"): lambda w: {},
    ("GET", "/v1/lists/{name}/entries"): lambda w: {"path": {"name": "dishonest_debtors"}},
    ("GET", "/v1/rulebooks"): lambda w: {},
    ("GET", "/v1/rulebooks/schema"): lambda w: {},
    ("GET", "/v1/rulebooks/{name}/{version}"): lambda w: {
        "path": {"name": "court-dishonest-debtors", "version": "2017.2"}
    },
    ("POST", "/v1/subjects/{subject}/objections"): lambda w: {
        "path": {"subject": w.listed_ref},
        "json": {
            "about": "rating",
            "target": "court-dishonest-debtors",
            "statement": "matrix walk",
        },
    },
    ("GET", "/v1/subjects/{subject}/objections"): lambda w: {"path": {"subject": w.listed_ref}},
    ("POST", "/v1/objections/{objection}/review"): lambda w: {
        "path": {"objection": "O" + "0" * 16}
    },
    ("POST", "/v1/objections/{objection}/decision"): lambda w: {
        "path": {"objection": "O" + "0" * 16},
        "json": {"decision": "rejected", "reasons": "matrix walk"},
    },
    ("POST", "/v1/objections/{objection}/appeal"): lambda w: {
        "path": {"objection": "O" + "0" * 16},
        "json": {"statement": "matrix walk"},
    },
    ("POST", "/v1/objections/{objection}/appeal-decision"): lambda w: {
        "path": {"objection": "O" + "0" * 16},
        "json": {"decision": "rejected", "reasons": "matrix walk"},
    },
    ("GET", "/v1/objections/overdue"): lambda w: {},
    # No such listing: past access control, a 404 says so.
    ("POST", "/v1/subjects/{subject}/repairs"): lambda w: {
        "path": {"subject": w.listed_ref},
        "json": {"listing": "0" * 16, "statement": "matrix walk"},
    },
    ("GET", "/v1/subjects/{subject}/repairs"): lambda w: {"path": {"subject": w.listed_ref}},
    ("POST", "/v1/repairs/{repair}/review"): lambda w: {"path": {"repair": "R" + "0" * 16}},
    ("POST", "/v1/repairs/{repair}/decide"): lambda w: {
        "path": {"repair": "R" + "0" * 16},
        "json": {"decision": "refused", "reasons": "matrix walk"},
    },
    ("GET", "/v1/repairs/overdue"): lambda w: {},
    ("GET", "/v1/subjects/{subject}/notice-addresses"): lambda w: {
        "path": {"subject": w.listed_ref}
    },
    ("POST", "/v1/subjects/{subject}/notice-addresses"): lambda w: {
        "path": {"subject": w.listed_ref},
        "json": {"channel": "email", "address": "walk@example.org"},
    },
    ("POST", "/v1/subjects/{subject}/notice-addresses/remove"): lambda w: {
        "path": {"subject": w.listed_ref},
        "json": {"channel": "email", "address": "walk@example.org"},
    },
    ("GET", "/v1/me/notice-addresses"): lambda w: {},
    ("POST", "/v1/me/notice-addresses"): lambda w: {
        "json": {"channel": "webhook", "address": "https://walk.example.org/n"}
    },
    ("POST", "/v1/me/notice-addresses/remove"): lambda w: {
        "json": {"channel": "webhook", "address": "https://walk.example.org/n"}
    },
    ("GET", "/v1/ledger/head"): lambda w: {},
    ("GET", "/v1/ledger/keys"): lambda w: {},
    ("GET", "/v1/ledger/proof/inclusion/{leaf}"): lambda w: {"path": {"leaf": 0}},
    ("GET", "/v1/ledger/proof/consistency"): lambda w: {"params": {"first": 0}},
}

# The matrix as designed (docs/access.md): who may call what. Anything else is denied.
S, OFF, R, P, J, A = (
    Role.SOURCE,
    Role.OFFICER,
    Role.REVIEWER,
    Role.RELYING_PARTY,
    Role.SUBJECT,
    Role.AUDITOR,
)
EVERYONE = frozenset(Role)
EXPECTED: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/health"): EVERYONE,
    ("GET", "/.well-known/jwks.json"): EVERYONE,
    ("GET", "/v1/me"): frozenset({S, OFF, R, P, J, A}),
    ("POST", "/v1/oauth/token"): EVERYONE,
    ("POST", "/v1/auth/sign-in"): EVERYONE,
    ("POST", "/v1/checks"): frozenset({P}),
    ("POST", "/v1/checks/bulk"): frozenset({P}),
    ("POST", "/v1/sources/{source}/records"): frozenset({S}),
    ("POST", "/v1/subjects/find"): frozenset({OFF, R, A}),
    ("GET", "/v1/subjects/{subject}/rating"): frozenset({OFF, R, A, J}),
    ("GET", "/v1/subjects/{subject}/explanation"): frozenset({OFF, R, A, J}),
    ("GET", "/v1/subjects/{subject}/accesses"): frozenset({OFF, R, A, J}),
    ("GET", "/v1/subjects/{subject}/file"): frozenset({OFF, R, A, J}),
    ("GET", "/v1/lists"): EVERYONE,
    # Everyone, because the walk asks for a list whose rulebook publishes it; an unpublished
    # list is for staff only (test_an_unpublished_list_is_for_staff_only).
    ("GET", "/v1/lists/{name}/entries"): EVERYONE,
    ("GET", "/v1/rulebooks"): EVERYONE,
    ("GET", "/v1/rulebooks/schema"): EVERYONE,
    ("GET", "/v1/rulebooks/{name}/{version}"): EVERYONE,
    ("POST", "/v1/subjects/{subject}/objections"): frozenset({OFF, J}),
    ("GET", "/v1/subjects/{subject}/objections"): frozenset({OFF, R, A, J}),
    ("POST", "/v1/objections/{objection}/review"): frozenset({R}),
    ("POST", "/v1/objections/{objection}/decision"): frozenset({R}),
    ("POST", "/v1/objections/{objection}/appeal"): frozenset({OFF, J}),
    ("POST", "/v1/objections/{objection}/appeal-decision"): frozenset({R}),
    ("GET", "/v1/objections/overdue"): frozenset({OFF, R, A}),
    ("POST", "/v1/subjects/{subject}/repairs"): frozenset({OFF, J}),
    ("GET", "/v1/subjects/{subject}/repairs"): frozenset({OFF, R, A, J}),
    ("POST", "/v1/repairs/{repair}/review"): frozenset({R}),
    ("POST", "/v1/repairs/{repair}/decide"): frozenset({R}),
    ("GET", "/v1/repairs/overdue"): frozenset({OFF, R, A}),
    ("GET", "/v1/subjects/{subject}/notice-addresses"): frozenset({OFF, J}),
    ("POST", "/v1/subjects/{subject}/notice-addresses"): frozenset({OFF, J}),
    ("POST", "/v1/subjects/{subject}/notice-addresses/remove"): frozenset({OFF, J}),
    ("GET", "/v1/me/notice-addresses"): frozenset({P}),
    ("POST", "/v1/me/notice-addresses"): frozenset({P}),
    ("POST", "/v1/me/notice-addresses/remove"): frozenset({P}),
    ("GET", "/v1/ledger/head"): EVERYONE,
    ("GET", "/v1/ledger/keys"): EVERYONE,
    ("GET", "/v1/ledger/proof/inclusion/{leaf}"): frozenset({OFF, R, A}),
    ("GET", "/v1/ledger/proof/consistency"): EVERYONE,
}


def _allowed(roles: frozenset[Role] | None) -> frozenset[Role]:
    assert roles is not None
    return EVERYONE if Role.PUBLIC in roles else roles


def test_every_route_declares_its_roles_and_is_walked(api: TestClient) -> None:
    found = {(m, p): roles for m, p, roles in matrix(api.app)}  # type: ignore[arg-type]
    undeclared = sorted(k for k, roles in found.items() if roles is None)
    assert undeclared == [], "routes without exactly one allow(...)"
    assert set(found) == set(WALK), "add new routes to WALK and EXPECTED"
    assert {k: _allowed(v) for k, v in found.items()} == EXPECTED


def test_no_route_is_open_without_credentials_but_the_published_ones(api: TestClient) -> None:
    open_routes = {k for k, roles in EXPECTED.items() if Role.PUBLIC in roles}
    assert {p for _, p in open_routes} == {
        "/health",
        "/.well-known/jwks.json",
        "/v1/oauth/token",  # authenticates by its own form fields
        "/v1/auth/sign-in",  # authenticates by the one-time link
        "/v1/lists",
        "/v1/lists/{name}/entries",  # published lists only
        "/v1/rulebooks",  # rules are published: a secret rule has no effect
        "/v1/rulebooks/schema",
        "/v1/rulebooks/{name}/{version}",
        # The ledger's heads and keys are published so that anyone can hold candor to them;
        # they and a consistency proof reveal no entry.
        "/v1/ledger/head",
        "/v1/ledger/keys",
        "/v1/ledger/proof/consistency",
    }
    for path in DOCUMENTATION[:2]:
        assert api.get(path).status_code == 200


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_the_matrix_is_enforced_for_every_route(api: TestClient, world: World, role: Role) -> None:
    for (method, path), call in WALK.items():
        spec = call(world)
        url = path.format(**spec.pop("path", {}))
        response = api.request(method, url, headers=world.headers[role], **spec)
        if role in EXPECTED[(method, path)]:
            assert response.status_code not in (401, 403), (method, path, response.text)
        else:
            expected = 401 if role is Role.PUBLIC else 403
            assert response.status_code == expected, (method, path, response.text)
            assert response.headers["content-type"] == PROBLEM
            if expected == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_docs_carry_the_matrix_the_api_enforces(api: TestClient) -> None:
    assert matrix_markdown(api.app) in DOCS.read_text(encoding="utf-8")  # type: ignore[arg-type]


# --- beyond the role: ownership and purpose -------------------------------------------------------


def test_a_subject_reads_only_its_own_file(api: TestClient, world: World) -> None:
    mine = api.get(f"/v1/subjects/{world.listed_ref}/rating", headers=world.headers[Role.SUBJECT])
    assert mine.status_code == 200
    theirs = api.get(f"/v1/subjects/{world.clean_ref}/rating", headers=world.headers[Role.SUBJECT])
    assert theirs.status_code == 403


def test_staff_must_say_why_they_read(api: TestClient, world: World) -> None:
    response = api.get(
        f"/v1/subjects/{world.listed_ref}/rating", headers=world.headers[Role.OFFICER]
    )
    assert response.status_code == 400
    assert "purpose" in response.json()["detail"]


def test_a_purpose_is_plain_text(api: TestClient, world: World) -> None:
    response = api.get(
        f"/v1/subjects/{world.listed_ref}/rating",
        params={"purpose": "review\x00 7"},
        headers=world.headers[Role.OFFICER],
    )
    assert response.status_code == 400
    assert "control characters" in response.json()["detail"]


def test_a_relying_party_asks_only_for_a_registered_purpose(api: TestClient, world: World) -> None:
    body = {"identifier": f"cn_resident_id:{LISTED}", "measure": "no_air_travel"}
    refused = api.post(
        "/v1/checks",
        json={**body, "purpose": "curiosity"},
        headers=world.headers[Role.RELYING_PARTY],
    )
    assert refused.status_code == 403
    assert "'boarding'" in refused.json()["detail"]
    answered = api.post(
        "/v1/checks",
        json={**body, "purpose": "boarding"},
        headers=world.headers[Role.RELYING_PARTY],
    )
    assert answered.json() == {
        **answered.json(),
        "applies": True,
    }
    # Only the answer and the question it answers: nothing else about the subject.
    assert set(answered.json()) <= {
        "applies",
        "listing",
        "until",
        "how_to_object",
        "measure",
        "as_of",
        "disputed",
    }


def test_an_unpublished_list_is_for_staff_only(
    api: TestClient, world: World, tmp_path: Path
) -> None:
    court = (SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml").read_text(encoding="utf-8")
    unpublished = tmp_path / "court.yaml"
    unpublished.write_text(
        court.replace('version: "2017.2"', 'version: "2026.9"').replace(
            "publish: true", "publish: false"
        ),
        encoding="utf-8",
    )
    activate(world.store, world.registry, unpublished, effective=date.today(), today=date.today())
    url = "/v1/lists/dishonest_debtors/entries"
    assert api.get(url).status_code == 401
    for role in (Role.SUBJECT, Role.RELYING_PARTY, Role.SOURCE):
        assert api.get(url, headers=world.headers[role]).status_code == 403
    for role in (Role.OFFICER, Role.REVIEWER, Role.AUDITOR):
        assert api.get(url, headers=world.headers[role]).status_code == 200


# --- tokens --------------------------------------------------------------------------------------


def test_tokens_are_kept_only_as_argon2id_hashes(world: World) -> None:
    with world.store.read() as conn:
        hashes = conn.execute(select(client_tokens.c.hash)).scalars().all()
    assert len(hashes) == 6
    for stored, token in zip(hashes, world.tokens.values(), strict=True):
        assert stored.startswith("$argon2id$")
        # The whole secret part (after `candor_<id>_`; it may itself hold `_`).
        assert token not in stored and token.split("_", 2)[2] not in stored
    # What production uses (tests use a cheaper cost): RFC 9106's second recommendation.
    deployed = extract_parameters(ORIGINAL_TOKEN_HASHER.hash("x"))
    assert (deployed.type, deployed.time_cost, deployed.memory_cost, deployed.parallelism) == (
        Type.ID,
        3,
        65536,
        4,
    )


def test_a_token_is_prefixed_so_it_can_be_recognised(world: World) -> None:
    for token in world.tokens.values():
        assert token.startswith("candor_") and len(token) > 50


def test_a_wrong_or_malformed_token_is_a_401_that_says_nothing_more(
    api: TestClient, world: World
) -> None:
    good = world.tokens[Role.OFFICER]
    for bad in (good[:-1] + ("A" if good[-1] != "A" else "B"), "candor_short", "nonsense", ""):
        response = api.get("/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert bad[-10:] not in response.text or not bad


def test_revoking_a_token_or_its_client_locks_it_out(
    api: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candor.services.authentication, "STATUS_TTL", 0.0)
    officer = world.headers[Role.OFFICER]
    assert api.get("/v1/me", headers=officer).status_code == 200  # verified and cached
    public_id = world.tokens[Role.OFFICER].split("_")[1]
    assert revoke(world.store, public_id) == "token"
    assert api.get("/v1/me", headers=officer).status_code == 401

    auditor = world.headers[Role.AUDITOR]
    assert api.get("/v1/me", headers=auditor).status_code == 200
    assert revoke(world.store, "auditor-zhao") == "client"
    assert api.get("/v1/me", headers=auditor).status_code == 401


def test_an_expired_token_is_refused(
    api: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = add_client(world.store, "short-lived", Role.AUDITOR, expires_in_days=1)
    headers = _header(added.token.token)
    assert api.get("/v1/me", headers=headers).status_code == 200
    later = time.time() + 2 * 86_400
    monkeypatch.setattr(candor.services.authentication.time, "time", lambda: later)
    response = api.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# --- OAuth2 client credentials -------------------------------------------------------------------


def _token_request(api: TestClient, **form: str) -> Any:
    return api.post("/v1/oauth/token", data={"grant_type": "client_credentials", **form})


def test_client_credentials_give_a_short_lived_signed_jwt(api: TestClient, world: World) -> None:
    response = _token_request(api, client_id="officer-li", client_secret=world.tokens[Role.OFFICER])
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 300)
    access = body["access_token"]
    me = api.get("/v1/me", headers=_header(access)).json()
    assert (me["client"], me["role"]) == ("officer-li", "officer")
    # Anyone can verify it with the published keys.
    jwks = api.get("/.well-known/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(access)["kid"]]
    claims = jwt.decode(access, key.key, algorithms=["EdDSA"], audience="candor-api")
    assert claims["sub"] == "officer-li" and claims["exp"] - claims["iat"] == 300


def test_client_credentials_by_http_basic(api: TestClient, world: World) -> None:
    basic = base64.b64encode(f"airline-ca:{world.tokens[Role.RELYING_PARTY]}".encode()).decode()
    response = api.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


def test_client_credentials_must_match_the_client(api: TestClient, world: World) -> None:
    wrong_client = _token_request(
        api, client_id="airline-ca", client_secret=world.tokens[Role.OFFICER]
    )
    assert wrong_client.status_code == 401
    assert wrong_client.headers["content-type"] == PROBLEM
    bad_grant = api.post("/v1/oauth/token", data={"grant_type": "password"})
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "unsupported_grant_type"


def test_a_forged_or_tampered_access_token_is_refused(api: TestClient, world: World) -> None:
    access = _token_request(
        api, client_id="officer-li", client_secret=world.tokens[Role.OFFICER]
    ).json()["access_token"]
    head, _, signature = access.split(".")
    claims = jwt.decode(access, options={"verify_signature": False})
    forged_payload = jwt.encode({**claims, "role": "auditor"}, "k" * 32, algorithm="HS256")
    tampered = f"{head}.{forged_payload.split('.')[1]}.{signature}"
    assert api.get("/v1/me", headers=_header(tampered)).status_code == 401
    hs256 = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    assert api.get("/v1/me", headers=_header(hs256)).status_code == 401


def test_revoking_the_api_token_ends_its_access_tokens(
    api: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candor.services.authentication, "STATUS_TTL", 0.0)
    access = _token_request(
        api, client_id="reviewer-wang", client_secret=world.tokens[Role.REVIEWER]
    ).json()["access_token"]
    assert api.get("/v1/me", headers=_header(access)).status_code == 200
    revoke(world.store, "reviewer-wang")
    assert api.get("/v1/me", headers=_header(access)).status_code == 401


# --- subject sign-in -----------------------------------------------------------------------------


def test_a_sign_in_link_works_once_for_the_subjects_own_file(api: TestClient, world: World) -> None:
    hasher = load_secret(world.settings).identifier_hasher()
    clean = subject_id_for(world.store, hasher, f"cn_resident_id:{CLEAN}", TODAY)
    assert clean is not None
    link = sign_in_link(world.store, clean)
    assert link.token.startswith("candorlink_")
    # A link is not a bearer token.
    assert api.get("/v1/me", headers=_header(link.token)).status_code == 401
    first = api.post("/v1/auth/sign-in", json={"link": link.token})
    assert first.status_code == 200
    session = _header(first.json()["access_token"])
    assert api.get(f"/v1/subjects/{world.clean_ref}/rating", headers=session).status_code == 200
    assert api.get(f"/v1/subjects/{world.listed_ref}/rating", headers=session).status_code == 403
    again = api.post("/v1/auth/sign-in", json={"link": link.token})
    assert again.status_code == 401


# --- rate limits and the daily bulk allowance ----------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_retry_after(api: TestClient, world: World) -> None:
    added = add_client(world.store, "hasty", Role.AUDITOR, rate_per_minute=3)
    headers = _header(added.token.token)
    statuses = [api.get("/v1/me", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get("/v1/me", headers=headers)
    assert response.headers["content-type"] == PROBLEM
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # Another client is not slowed by it.
    assert api.get("/v1/me", headers=world.headers[Role.OFFICER]).status_code == 200


def test_the_daily_bulk_allowance_holds_and_counts_nothing_refused(
    api: TestClient, world: World
) -> None:
    added = add_client(
        world.store,
        "bulk-airline",
        Role.RELYING_PARTY,
        measures=["no_air_travel"],
        purposes=["boarding"],
        bulk_per_day=5,
    )
    headers = _header(added.token.token)

    def bulk(n: int) -> Any:
        identifiers = [f"cn_resident_id:{resident_id(100 + i)}" for i in range(n)]
        body = {"identifiers": identifiers, "measure": "no_air_travel", "purpose": "boarding"}
        return api.post("/v1/checks/bulk", json=body, headers=headers)

    assert bulk(3).status_code == 200
    refused = bulk(3)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "allowance of 5" in refused.json()["detail"]
    assert bulk(2).status_code == 200  # the refused request counted nothing


# --- the access log ------------------------------------------------------------------------------


def test_every_read_and_check_shows_in_the_subjects_access_history(
    api: TestClient, world: World
) -> None:
    officer, subject = world.headers[Role.OFFICER], world.headers[Role.SUBJECT]
    api.get(
        f"/v1/subjects/{world.listed_ref}/rating",
        params={"purpose": "objection review 7"},
        headers=officer,
    )
    api.post(
        "/v1/checks",
        json={
            "identifier": f"cn_resident_id:{LISTED}",
            "measure": "no_air_travel",
            "purpose": "boarding",
        },
        headers=world.headers[Role.RELYING_PARTY],
    )
    history = api.get(f"/v1/subjects/{world.listed_ref}/accesses", headers=subject).json()
    [read] = [r for r in history["reads"] if r["client"] == "officer-li"]
    assert (read["role"], read["purpose"], read["action"]) == (
        "officer",
        "objection review 7",
        "rating",
    )
    assert "listing(s) in force" in read["returned"]
    [check] = history["checks"]
    assert (check["client"], check["purpose"], check["measure"], check["applies"]) == (
        "airline-ca",
        "boarding",
        "no_air_travel",
        True,
    )


def test_a_new_token_arriving_many_times_at_once_is_hashed_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2id takes 64 MiB and tens of milliseconds: sixteen requests with a token the server
    has not seen yet must not hash it sixteen times at once."""
    real = candor.services.authentication.verify_token
    calls: list[int] = []

    def counted(row: Any, token: str) -> bool:
        calls.append(1)
        time.sleep(0.05)  # the hash's cost, so that the requests overlap
        return real(row, token)

    monkeypatch.setattr(candor.services.authentication, "verify_token", counted)
    authenticator = Authenticator(world.store, load_secret(world.settings))
    token = world.tokens[Role.AUDITOR]
    with ThreadPoolExecutor(16) as pool:
        principals = list(pool.map(authenticator.verify, [token] * 16))
    assert {p.name for p in principals} == {"auditor-zhao"}
    assert len(calls) == 1
