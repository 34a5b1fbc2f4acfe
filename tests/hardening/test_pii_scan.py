"""PII hygiene: known identifiers, names and tokens go in; not one comes out in a log line, a URL
or an error body.

A real `candor serve` (uvicorn, access log on, DEBUG) answers ingestion, checks (single and bulk,
valid and invalid identifiers), look-ups, reads, bad credentials and malformed requests; the CLI
ingests a file and checks. Then every line the server and the CLI logged, every response
(status line, headers, body, except the token endpoint's own access token) and the rejects file
are scanned for every secret value put in.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from candor.domain.access import Role
from candor.domain.registry import Registry
from candor.services.clients import add_client, split_token
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store
from tests.conftest import TODAY
from tests.helpers import COURT_TYPES, as_object, record, resident_id, uscc, write_csv

PERSON, OTHER, NEVER_SEEN = resident_id(41), resident_id(42), resident_id(43)
ORG = uscc(44)
NAMES = ("欧阳娜娜", "Zhang Sanfeng", "司马相如")
BAD_CHECK = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")  # fails its check character
CANDOR = str(Path(sys.executable).with_name("candor"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seen:
    """Everything that came back or was written, to be scanned."""

    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))


@dataclass
class Server:
    port: int
    log: Path
    seen: Seen

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        form: dict[str, str] | None = None,
        scan_body: bool = True,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = dict(headers or {})
        payload: bytes | None = None
        if form is not None:
            payload = "&".join(f"{k}={v}" for k, v in form.items()).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            raw = response.read().decode("utf-8", "replace")
            head = f"{response.status} {response.reason}\n" + "\n".join(
                f"{k}: {v}" for k, v in response.getheaders()
            )
        finally:
            conn.close()
        self.seen.add(f"{method} {path} (url)", path)
        self.seen.add(f"{method} {path} (headers)", head)
        if scan_body:
            self.seen.add(f"{method} {path} (body)", raw)
        try:
            return response.status, json.loads(raw)
        except json.JSONDecodeError:
            return response.status, raw


@pytest.fixture
def server(
    settings: Settings, store: Store, registry: Registry, tmp_path: Path
) -> Iterator[Server]:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("one engine is enough: the scan is about what candor writes, not the store")
    port = _free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
        "CANDOR_LOG_LEVEL": "DEBUG",
    }
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [CANDOR, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, log.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield Server(port, log, Seen())
    finally:
        process.terminate()
        process.wait(timeout=30)


def _secrets(tokens: list[str]) -> list[str]:
    values = [PERSON, OTHER, NEVER_SEEN, ORG, BAD_CHECK, *NAMES]
    values += [v.lower() for v in (PERSON, OTHER, ORG) if v.lower() != v]
    for token in tokens:
        # The whole token, and its secret part: after `candor_<id>_` (the secret, URL-safe
        # base64, may itself hold `_`), or a JWT's signature.
        split = split_token(token)
        if split is not None:
            secret = token.partition(split[1] + "_")[2]
        else:
            secret = token.rsplit(".", 1)[-1]
        assert len(secret) >= 40, "the scan looks for the whole secret"
        values += [token, secret]
    return values


@pytest.mark.slow
def test_no_identifier_name_or_token_in_any_log_line_url_or_error_body(
    server: Server, settings: Settings, store: Store, registry: Registry, tmp_path: Path
) -> None:
    for name in ("court-dishonest-debtors.yaml", "rongcheng-personal.yaml"):
        activate(store, registry, SAMPLE_RULEBOOKS / name, effective=date(2017, 5, 1), today=TODAY)
    add_source(store, registry, "court", COURT_TYPES)
    made = {
        role: add_client(store, f"pii-{role.value}", role, **extra).token.token
        for role, extra in {
            Role.SOURCE: {"source": "court"},
            Role.OFFICER: {},
            Role.RELYING_PARTY: {"measures": ["no_air_travel"], "purposes": ["boarding"]},
        }.items()
    }
    auth = {role: {"Authorization": f"Bearer {t}"} for role, t in made.items()}
    s = server

    # Ingestion over the API: good rows with names, bad rows with bad identifiers and names.
    rows = [
        record("p1", PERSON, name=NAMES[0]),
        record("p2", OTHER, name=NAMES[1]),
        record(
            "f1",
            PERSON,
            name=NAMES[0],
            record_type="court.dishonest_debtor_finding",
            **{"attr.ground": "2", "attr.aggravated": "false", "attr.amount": ""},
        ),
        record("o1", ORG, name=NAMES[2], identifier_scheme="cn_uscc"),
        record("b1", BAD_CHECK, name=NAMES[2]),
        record("b2", PERSON, name=NAMES[1], decided_on="2099-01-01"),
    ]
    status, body = s.request(
        "POST",
        "/v1/sources/court/records",
        {"records": [as_object(r) for r in rows]},
        auth[Role.SOURCE],
    )
    assert status == 200 and body["rejected"] >= 2, body
    # Checks: single (valid, unknown, invalid), bulk, and in the wrong hands.
    check = {"measure": "no_air_travel", "purpose": "boarding"}
    for identifier in (PERSON, NEVER_SEEN, BAD_CHECK, ORG):
        scheme = "cn_uscc" if identifier == ORG else "cn_resident_id"
        s.request(
            "POST",
            "/v1/checks",
            {**check, "identifier": f"{scheme}:{identifier}"},
            auth[Role.RELYING_PARTY],
        )
        s.request(
            "POST", "/v1/checks", {**check, "identifier": f"cn_resident_id:{identifier}"}
        )  # no credentials
    s.request(
        "POST",
        "/v1/checks/bulk",
        {**check, "identifiers": [f"cn_resident_id:{v}" for v in (PERSON, BAD_CHECK, NEVER_SEEN)]},
        auth[Role.RELYING_PARTY],
    )
    s.request(
        "POST",
        "/v1/checks",
        {**check, "purpose": "curiosity", "identifier": f"cn_resident_id:{PERSON}"},
        auth[Role.RELYING_PARTY],
    )
    # Malformed bodies that carry identifiers where they do not belong.
    s.request("POST", "/v1/checks", {"identifier": PERSON}, auth[Role.RELYING_PARTY])
    s.request(
        "POST", "/v1/checks", f'{{"identifier": "{PERSON}", '.encode(), auth[Role.RELYING_PARTY]
    )
    s.request("POST", "/v1/sources/court/records", {"records": PERSON}, auth[Role.SOURCE])
    s.request(
        "POST",
        "/v1/subjects/find",
        {"identifier": f"cn_resident_id:{NEVER_SEEN}", "purpose": "pii scan"},
        auth[Role.OFFICER],
    )
    status, found = s.request(
        "POST",
        "/v1/subjects/find",
        {"identifier": f"cn_resident_id:{PERSON}", "purpose": "pii scan"},
        auth[Role.OFFICER],
    )
    assert status == 200, found
    ref = found["subject"]
    for path in ("rating", "explanation", "accesses"):
        status, _ = s.request(
            "GET", f"/v1/subjects/{ref}/{path}?purpose=pii%20scan", None, auth[Role.OFFICER]
        )
        assert status == 200
    s.request("GET", "/v1/lists/dishonest_debtors/entries")
    # Bad credentials: a mangled token, a token of the wrong kind, a token in the wrong place.
    token = made[Role.OFFICER]
    s.request("GET", "/v1/me", None, {"Authorization": f"Bearer {token}x"})
    s.request("GET", "/v1/me", None, {"Authorization": f"Basic {token}"})
    s.request(
        "POST",
        "/v1/oauth/token",
        form={
            "grant_type": "client_credentials",
            "client_id": "pii-officer",
            "client_secret": token + "x",
        },
    )
    basic = base64.b64encode(f"pii-officer:{token}".encode()).decode()
    status, issued = s.request(
        "POST",
        "/v1/oauth/token",
        form={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        scan_body=False,  # the access token is the answer here
    )
    assert status == 200
    jwt_token = issued["access_token"]
    s.request("GET", "/v1/me", None, {"Authorization": f"Bearer {jwt_token}"})
    s.request("GET", "/v1/me", None, {"Authorization": f"Bearer {jwt_token[:-4]}AAAA"})

    # The CLI: a file with identifiers and names, bad rows among them; a check; an explanation.
    cli_rows = [
        record("c1", OTHER, name=NAMES[1]),
        record("c2", BAD_CHECK, name=NAMES[2]),
        record("c3", NEVER_SEEN, name=NAMES[0], occurred_on="2025-02-30"),
    ]
    file = write_csv(tmp_path / "records.csv", cli_rows)
    env = {
        **os.environ,
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
        "CANDOR_LOG_LEVEL": "DEBUG",
    }
    for args in (
        ["ingest", str(file), "--source", "court", "--json"],
        ["check", f"cn_resident_id:{BAD_CHECK}", "no_air_travel", "--json"],
        ["check", f"cn_resident_id:{NEVER_SEEN}", "no_air_travel", "--json"],
    ):
        done = subprocess.run([CANDOR, *args], capture_output=True, text=True, env=env, check=False)
        assert done.returncode in (0, 1) and done.stdout.startswith("{"), done.stderr
        s.seen.add(f"candor {args[0]} (stderr, its log)", done.stderr)
        s.seen.add(f"candor {args[0]} (stdout)", done.stdout)
    for rejects in tmp_path.glob("*rejects*"):
        s.seen.add(f"rejects file {rejects.name}", rejects.read_text(encoding="utf-8"))

    time.sleep(0.5)  # the server's last log lines
    s.seen.add("server log", server.log.read_text(encoding="utf-8"))
    log_lines = server.log.read_text(encoding="utf-8").splitlines()
    assert sum(" /v1/" in line for line in log_lines) >= 20, "the access log was on"

    # The scan sees what it should: the rejects named rows, the log named requests.
    assert any("check character" in text for _, text in s.seen.texts)
    leaks = [
        (where, value)
        for where, text in s.seen.texts
        for value in _secrets([*made.values(), jwt_token])
        if value in text
    ]
    assert leaks == [], f"leaked: {leaks[:10]}"
