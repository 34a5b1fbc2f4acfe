"""Checks: ``POST /v1/checks`` under load beside a bare endpoint, and a bulk check of 1M.

The store: the demo jurisdiction (``bench.inputs``: 100,000 persons, 20,000 organisations, about
1M records) ingested into SQLite with ``ingest_file``, the court rulebook activated (effective
2017-05-01) and everyone rated for TODAY with ``rate_all``. It is kept under
``bench/work/checks`` and reused while its input, candor's schema and the rulebook are unchanged
(its check log is emptied first).

The server: ``create_app`` under uvicorn in a process of its own, one worker, as ``candor serve``
runs it, plus one route for this benchmark only: ``POST /bench/bare`` reads the body and answers
a constant. It is matched first, so it is the floor of the very same stack (uvicorn, FastAPI,
the app's error table) for a request of the same size; the checks' routes come next after
FastAPI's four documentation routes.

The load: Debian's ``wrk``, one thread, ``CONNECTIONS`` keep-alive connections, from another
process, with a Lua script that cycles through request bodies and reports its percentiles as
JSON. Without ``wrk`` a Python asyncio load generator (also a separate process) stands in; the
table says which ran. The identifiers asked about are valid resident IDs: every person with a
court finding in the file (most of them listed), as many other known persons, and as many valid
IDs candor has never seen — each body names its date (TODAY), so the stored listings answer.
Three rounds of ten seconds on each endpoint, in turn (after a warm-up of two seconds); each
figure reported is its median over the rounds, and every round is kept in the details.

The bulk check: 1M valid identifiers (every distinct valid one in the file, the rest valid IDs
candor has never seen), one ``POST /v1/checks/bulk`` to the same server, timed from sending the
prebuilt request to the last byte of the answer. Its baseline: reading the check-log rows the
request wrote, back from the store with plain ``sqlite3`` (one row per
identifier naming a subject, one counted row for the rest: ``checks.times``). For context,
``check_many`` is also timed in-process, stage by stage.

Targets (the issue): at least 2,000 checks/s with p99 at most 20 ms against one worker; the bulk
check of 1M identifiers in at most 10 s.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from fastapi import Request, Response

from bench.core import REPO_ROOT, TODAY, Area, Context, Result, Target, absolute, compared, number
from bench.inputs import RecordFile, jurisdiction_csv
from candor.domain import identifier_columns
from candor.domain.access import Role
from candor.domain.identifiers import resident_id_check_char
from candor.services.checks import check_many
from candor.services.clients import add_client, list_clients, new_token
from candor.services.ingestion import ingest_file
from candor.services.rating import rate_all
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate, governing
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import open_store
from candor.store.migrate import head_revision

AREA_NAME = "checks"
SOURCE = "bench"
RULEBOOK = SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml"
MEASURE = "no_air_travel"
CONNECTIONS = 16
SECONDS = 10
ROUNDS = 3  # of SECONDS each, on the bare endpoint and on the checks in turn; medians reported
WARM_UP_SECONDS = 2
BULK = 1_000_000
PORT = 8931

SPEED_TARGET = Target(">=", 2_000, "checks/s")
P99_TARGET = Target("<=", 20, "ms")
BULK_TARGET = Target("<=", 10, "s")

SINGLE = "POST /v1/checks, one uvicorn worker, SQLite"
BULK_BENCH = "POST /v1/checks/bulk, 1M identifiers, SQLite"


# --- the store ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    url: str
    secret_file: Path
    subjects: int
    listed: int  # listings in force on TODAY
    seconds: float  # to build it (0 when reused)


def _manifest(made: RecordFile) -> dict[str, Any]:
    return {
        "input": made.to_json(),
        "schema": head_revision(),
        "rulebook": RULEBOOK.read_text(encoding="utf-8"),
        "today": TODAY.isoformat(),
    }


def _store(ctx: Context, work: Path, made: RecordFile) -> Built:
    db, manifest_path = work / "candor.db", work / "store.json"
    settings = Settings.load(
        environ={}, database_url=f"sqlite:///{db}", secret_file=work / "bench.secret"
    )
    wanted = _manifest(made)
    try:
        kept = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    started = time.perf_counter()
    if kept is not None and kept.get("manifest") == wanted and db.exists():
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM checks")
        ctx.say(f"checks: reusing the store {db}")
        return Built(settings.database_url, settings.secret_file, **kept["counts"], seconds=0.0)
    for path in work.glob(f"{db.name}*"):  # the database, its WAL, and anything kept beside it
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    manifest_path.unlink(missing_ok=True)
    task = ctx.progress.add_task("checks: building the store", total=None)
    init_deployment(settings)
    registry = load_registry(settings)
    with open_store(settings.database_url) as store:
        add_source(store, registry, SOURCE, made.record_types, "benchmark input")
        activate(store, registry, RULEBOOK, effective=date(2017, 5, 1), today=TODAY)
        ctx.progress.update(task, description="checks: ingesting the demo jurisdiction")
        ingest_file(
            store,
            settings,
            registry,
            made.path,
            SOURCE,
            rejects_path=work / "rejects.csv",
            today=TODAY,
        )
        ctx.progress.update(task, description="checks: rating everyone")
        summary = rate_all(store, registry, as_of=TODAY, today=TODAY)
    counts = {"subjects": summary.subjects, "listed": sum(summary.listings.values())}
    manifest_path.write_text(json.dumps({"manifest": wanted, "counts": counts}), encoding="utf-8")
    seconds = time.perf_counter() - started
    ctx.progress.update(task, description=f"checks: store built in {seconds:.0f} s", total=1)
    ctx.progress.update(task, completed=1)
    return Built(settings.database_url, settings.secret_file, **counts, seconds=seconds)


# --- identifiers -------------------------------------------------------------------------------


def _valid_persons(made: RecordFile) -> tuple[list[str], list[str]]:
    """Distinct valid resident IDs in the file: those with a court finding, and the others."""
    frame = pl.read_csv(
        made.path,
        infer_schema=False,
        columns=["identifier_scheme", "identifier", "record_type"],
    ).filter(pl.col("identifier_scheme") == "cn_resident_id")
    scheme, value = pl.col("identifier_scheme"), pl.col("identifier")
    frame = frame.with_columns(identifier_columns.normalised(scheme, value).alias("identifier"))
    frame = frame.filter(identifier_columns.problem(scheme, value, today=pl.lit(TODAY)).is_null())
    found = frame.group_by("identifier").agg(
        (pl.col("record_type") == "court.dishonest_debtor_finding").any().alias("finding")
    )
    found = found.sort("identifier")
    finding = found.filter(pl.col("finding")).get_column("identifier").to_list()
    others = found.filter(~pl.col("finding")).get_column("identifier").to_list()
    return finding, others


def _unknown_persons(count: int, known: set[str], seed: int) -> list[str]:
    """Valid resident IDs that are not in the file (region 110105, births from 1940)."""
    rng = random.Random(seed)
    out: list[str] = []
    first = date(1940, 1, 1)
    while len(out) < count:
        born = first + timedelta(days=rng.randrange(60 * 365))
        body = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}"
        value = body + resident_id_check_char(body)
        if value not in known:
            out.append(value)
            known.add(value)
    return out


def _check_bodies(finding: list[str], others: list[str]) -> list[bytes]:
    rng = random.Random(1)
    asked = finding + rng.sample(others, min(len(others), len(finding)))
    asked += _unknown_persons(len(asked), set(finding) | set(others), seed=2)
    rng.shuffle(asked)
    return [
        orjson.dumps(
            {
                "identifier": f"cn_resident_id:{value}",
                "measure": MEASURE,
                "as_of": TODAY.isoformat(),
                "purpose": "ticket sale",
            }
        )
        for value in asked
    ]


# --- the server --------------------------------------------------------------------------------


def serve(database_url: str, secret_file: str, port: int) -> None:
    """The app as ``candor serve`` runs it, plus the bare route; run in its own process."""
    import uvicorn  # noqa: PLC0415 — only the server process needs it

    from candor.api import create_app  # noqa: PLC0415

    settings = Settings.load(environ={}, database_url=database_url, secret_file=Path(secret_file))
    app = create_app(settings)

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    app.add_api_route("/bench/bare", bare, methods=["POST"], include_in_schema=False)
    app.router.routes.insert(0, app.router.routes.pop())  # matched first
    # Named, not "auto": without uvloop or httptools the server must fail, not slow down.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


class Server:
    """The API in a child process; stopped with SIGINT (uvicorn's graceful shutdown)."""

    def __init__(self, built: Built, log: Path) -> None:
        self.port = _free_port()
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(  # noqa: S603 — this interpreter, our own module
            [
                sys.executable,
                "-m",
                "bench.checks",
                "serve",
                built.url,
                str(built.secret_file),
                str(self.port),
            ],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited; see {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not start within 60 s; see {log}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    tool: str
    requests: int
    seconds: float
    errors: int  # non-2xx answers and socket errors
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()},
            "per_second": round(self.per_second),
        }

    def said(self) -> str:
        return (
            f"{self.requests:,} requests in {self.seconds:.1f} s by {self.tool}, "
            f"{CONNECTIONS} connections (median of {ROUNDS} rounds); "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
            + (f"; {self.errors:,} errors" if self.errors else "")
        )


_LUA = """
local bodies = BODIES
local n = #bodies
local i = math.random(n)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
request = function()
  i = i % n + 1
  return wrk.format(nil, "PATH", nil, bodies[i])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '@bench {"requests": %d, "micros": %d, "errors": %d, "p50": %d, "p99": %d}\\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(body: bytes) -> str:
    text = body.decode()
    assert "]]" not in text
    return f"[[{text}]]"


def _wrk(url: str, path: str, bodies: list[bytes], seconds: int, script: Path, token: str) -> Load:
    script.write_text(
        _LUA.replace("BODIES", "{" + ",\n".join(_lua_string(b) for b in bodies) + "}")
        .replace("PATH", path)
        .replace("TOKEN", token),
        encoding="utf-8",
    )
    wrk = shutil.which("wrk")
    assert wrk is not None
    out = subprocess.run(  # noqa: S603 — wrk from the system, our own arguments
        [
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("@bench "))
    doc = json.loads(line.removeprefix("@bench "))
    return Load(
        "wrk",
        doc["requests"],
        doc["micros"] / 1e6,
        doc["errors"],
        doc["p50"] / 1000,
        doc["p99"] / 1000,
    )


def _python_load(
    url: str, path: str, bodies: list[bytes], seconds: int, file: Path, token: str
) -> Load:
    """The stand-in for wrk: ``python -m bench.checks load``, in a process of its own."""
    file.write_bytes(b"\n".join(bodies))
    out = subprocess.run(  # noqa: S603 — this interpreter, our own module
        [sys.executable, "-m", "bench.checks", "load", url, path, str(file), str(seconds), token],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return Load("python asyncio", **doc)


def post_request(host: str, path: str, token: str, body: bytes) -> bytes:
    """One keep-alive HTTP/1.1 JSON POST, as bytes on the wire."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bytes:
    """Send ``request`` and read its whole answer (Content-Length framed); its status line."""
    writer.write(request)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def _load(
    host: str, port: int, path: str, bodies: list[bytes], seconds: float, token: str
) -> Load:
    """Keep-alive HTTP/1.1 POSTs on CONNECTIONS connections for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def connection(start: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        i = start
        while time.perf_counter() < stop_at:
            request = post_request(host, path, token, bodies[i % len(bodies)])
            i += 1
            began = time.perf_counter()
            status = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - began)
            if not status.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection(n * 997) for n in range(CONNECTIONS)))
    took = time.perf_counter() - began
    latencies.sort()
    return Load(
        "python asyncio",
        len(latencies),
        took,
        errors,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
    )


def _run_load(
    ctx: Context,
    port: int,
    path: str,
    bodies: list[bytes],
    work: Path,
    *,
    warm_up: bool,
    token: str,
) -> Load:
    url = f"http://127.0.0.1:{port}"
    name = path.strip("/").replace("/", "-")
    if shutil.which("wrk"):
        if warm_up:
            _wrk(url, path, bodies, WARM_UP_SECONDS, work / f"{name}.lua", token)
        return _wrk(url, path, bodies, SECONDS, work / f"{name}.lua", token)
    if warm_up:
        _python_load(url, path, bodies, WARM_UP_SECONDS, work / f"{name}.bodies", token)
    return _python_load(url, path, bodies, SECONDS, work / f"{name}.bodies", token)


def median_load(rounds: list[Load]) -> Load:
    """Each figure's median over the rounds (this machine's speed drifts by a fifth between
    runs of ten seconds; one round would report the drift)."""
    return Load(
        rounds[0].tool,
        round(statistics.median(r.requests for r in rounds)),
        statistics.median(r.seconds for r in rounds),
        sum(r.errors for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
    )


# --- bulk ----------------------------------------------------------------------------------------


def _bulk_identifiers(finding: list[str], others: list[str]) -> list[str]:
    known = finding + others
    unknown = _unknown_persons(BULK - len(known), set(known), seed=3)
    asked = [f"cn_resident_id:{v}" for v in known + unknown]
    random.Random(4).shuffle(asked)
    return asked


def _post_bulk(port: int, body: bytes, token: str) -> tuple[float, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        began = time.perf_counter()
        conn.request(
            "POST",
            "/v1/checks/bulk",
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        data = response.read()
        seconds = time.perf_counter() - began
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"bulk check answered {response.status}: {data[:500]!r}")
    doc = orjson.loads(data)
    return seconds, {k: v for k, v in doc.items() if k != "answers"}


def _read_back(db: Path, client: str) -> tuple[float, int, int]:
    """Seconds to read the rows a bulk check logged with plain sqlite3, how many rows, and how
    many checks they stand for (identifiers naming no subject share one counted row)."""
    conn = sqlite3.connect(db)
    try:
        began = time.perf_counter()
        rows = conn.execute("SELECT * FROM checks WHERE client = ?", (client,)).fetchall()
        seconds = time.perf_counter() - began
        (checked,) = conn.execute(
            "SELECT coalesce(sum(times), 0) FROM checks WHERE client = ?", (client,)
        ).fetchone()
        return seconds, len(rows), int(checked)
    finally:
        conn.close()


def _in_process(built: Built, identifiers: list[str]) -> tuple[float, dict[str, float]]:
    settings = Settings.load(environ={}, database_url=built.url, secret_file=built.secret_file)
    registry = load_registry(settings)
    hasher = load_secret(settings).identifier_hasher()
    with open_store(built.url) as store:
        governing(store, TODAY)
        began = time.perf_counter()
        answer = check_many(
            store,
            registry,
            hasher,
            identifiers,
            MEASURE,
            as_of=TODAY,
            today=TODAY,
            client="bench-service",
            purpose="boarding",
        )
        return time.perf_counter() - began, answer.stages


# --- the area ----------------------------------------------------------------------------------


def _clients(built: Built) -> dict[str, str]:
    """A fresh token for each relying party the benchmark asks as (registered on first use),
    with allowances that do not throttle a benchmark."""
    settings = Settings.load(database_url=built.url, secret_file=built.secret_file)
    tokens = {}
    with open_store(settings.database_url) as store:
        known = {c.client.name for c in list_clients(store)}
        for name in ("bench", "bench-bulk"):
            if name in known:
                tokens[name] = new_token(store, name, expires_in_days=1).token
                continue
            tokens[name] = add_client(
                store,
                name,
                Role.RELYING_PARTY,
                measures=[MEASURE],
                purposes=["ticket sale", "boarding"],
                rate_per_minute=10**9,
                bulk_per_day=10**12,
                expires_in_days=1,
            ).token.token
    return tokens


@dataclass(frozen=True)
class Prepared:
    """What a run against the checks store needs: built (or reused), its clients registered."""

    work: Path  # bench/work/checks
    made: RecordFile
    built: Built
    tokens: dict[str, str]  # client name → a fresh API token
    finding: list[str]  # valid resident IDs with a court finding in the file
    others: list[str]  # the other valid resident IDs in the file


def prepare(ctx: Context) -> Prepared:
    """The input, the store and the clients; shared with the soak test (``bench.soak``)."""
    work = ctx.work / AREA_NAME
    work.mkdir(parents=True, exist_ok=True)
    task = ctx.progress.add_task("checks: input", total=None)
    made = jurisdiction_csv(ctx.work, today=TODAY)
    ctx.progress.update(task, description=f"checks: input ({made.rows:,} rows)", total=1)
    ctx.progress.update(task, completed=1)
    built = _store(ctx, work, made)
    tokens = _clients(built)
    finding, others = _valid_persons(made)
    return Prepared(work, made, built, tokens, finding, others)


def run(ctx: Context) -> list[Result]:
    prepared = prepare(ctx)
    work, made, built, tokens = prepared.work, prepared.made, prepared.built, prepared.tokens
    finding, others = prepared.finding, prepared.others
    ctx.details["store"] = {
        "records_file_rows": made.rows,
        "subjects": built.subjects,
        "listed_on_today": built.listed,
        "build_seconds": round(built.seconds, 1),
    }
    # Other work on the machine shows in every figure here: keep the load beside them.
    ctx.details["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    server = Server(built, work / "server.log")
    try:
        return [
            *ctx.guarded(
                AREA_NAME,
                SINGLE,
                lambda: _single(ctx, server, finding, others, work, tokens["bench"]),
            ),
            *ctx.guarded(
                AREA_NAME,
                BULK_BENCH,
                lambda: _bulk(ctx, server, built, finding, others, work, tokens["bench-bulk"]),
            ),
        ]
    finally:
        server.stop()


def _single(
    ctx: Context, server: Server, finding: list[str], others: list[str], work: Path, token: str
) -> list[Result]:
    bodies = _check_bodies(finding, others)
    # Every check commits its log row durably: flush what earlier benchmarks left for the disk
    # to write first (after the 10M rating store, a first round here ran at a fifth speed).
    os.sync()
    task = ctx.progress.add_task("checks: load", total=2 * ROUNDS)
    bare_rounds: list[Load] = []
    check_rounds: list[Load] = []
    for n in range(ROUNDS):  # in turn, so that both see the machine's drift alike
        ctx.progress.update(task, description=f"checks: bare endpoint, round {n + 1}")
        bare_rounds.append(
            _run_load(ctx, server.port, "/bench/bare", bodies, work, warm_up=n == 0, token=token)
        )
        ctx.progress.advance(task)
        ctx.progress.update(task, description=f"checks: POST /v1/checks, round {n + 1}")
        check_rounds.append(
            _run_load(ctx, server.port, "/v1/checks", bodies, work, warm_up=n == 0, token=token)
        )
        ctx.progress.advance(task)
    bare, checked = median_load(bare_rounds), median_load(check_rounds)
    ctx.details["single"] = {
        "bodies": len(bodies),
        "connections": CONNECTIONS,
        "seconds": SECONDS,
        "rounds": ROUNDS,
        "bare": bare.to_json(),
        "checks": checked.to_json(),
        "bare_rounds": [r.to_json() for r in bare_rounds],
        "check_rounds": [r.to_json() for r in check_rounds],
    }
    ctx.say(f"bare: {bare.said()}")
    ctx.say(f"checks: {checked.said()}")
    if checked.errors:
        raise RuntimeError(f"{checked.errors} checks failed under load; see the server log")
    return [
        compared(
            AREA_NAME,
            SINGLE,
            "throughput / bare endpoint",
            checked.per_second,
            "checks/s",
            baseline=f"POST /bench/bare ({bare.tool})",
            baseline_value=bare.per_second,
            notes=f"bare: {bare.said()}",
        ),
        absolute(
            AREA_NAME,
            SINGLE,
            "throughput",
            checked.per_second,
            "checks/s",
            target=SPEED_TARGET,
            notes=checked.said() + "; each answered after its log row was committed",
        ),
        compared(
            AREA_NAME,
            SINGLE,
            "p99 latency / bare endpoint",
            checked.p99_ms,
            "ms",
            baseline="p99 of POST /bench/bare",
            baseline_value=bare.p99_ms,
            notes=f"p50 {checked.p50_ms:.1f} ms (bare {bare.p50_ms:.1f} ms)",
        ),
        absolute(AREA_NAME, SINGLE, "p99 latency", checked.p99_ms, "ms", target=P99_TARGET),
    ]


def _bulk(
    ctx: Context,
    server: Server,
    built: Built,
    finding: list[str],
    others: list[str],
    work: Path,
    token: str,
) -> list[Result]:
    task = ctx.progress.add_task("checks: bulk request", total=None)
    identifiers = _bulk_identifiers(finding, others)
    body = orjson.dumps(
        {
            "measure": MEASURE,
            "as_of": TODAY.isoformat(),
            "purpose": "boarding",
            "identifiers": identifiers,
        }
    )
    ctx.progress.update(task, description=f"checks: bulk of {len(identifiers):,} over HTTP")
    seconds, summary = _post_bulk(server.port, body, token)
    db = Path(built.url.removeprefix("sqlite:///"))
    ctx.progress.update(task, description="checks: reading the logged rows back")
    read_seconds, read_rows, logged_checks = _read_back(db, "bench-bulk")
    ctx.progress.update(task, description="checks: bulk in-process, stage by stage")
    service_seconds, stages = _in_process(built, identifiers)
    ctx.progress.update(task, description="checks: bulk done", total=1, completed=1)
    ctx.details["bulk"] = {
        "identifiers": len(identifiers),
        "request_mib": round(len(body) / (1 << 20), 1),
        "http_seconds": round(seconds, 2),
        "answer": summary,
        "read_back_seconds": round(read_seconds, 2),
        "read_back_rows": read_rows,
        "logged_checks": logged_checks,
        "in_process_seconds": round(service_seconds, 2),
        "in_process_stages": stages,
    }
    ctx.say(
        f"bulk: {len(identifiers):,} identifiers in {seconds:.1f} s over HTTP "
        f"({service_seconds:.1f} s in-process: {stages}); reading the {read_rows:,} logged rows "
        f"({logged_checks:,} checks) back took {read_seconds:.1f} s"
    )
    return [
        compared(
            AREA_NAME,
            BULK_BENCH,
            "seconds / reading the same rows",
            seconds,
            "s",
            baseline="plain sqlite3 SELECT of the check-log rows it wrote",
            baseline_value=read_seconds,
            notes=f"{summary.get('checked', 0):,} checked, {summary.get('applies', 0):,} "
            f"listed; a {len(body) / (1 << 20):.0f} MiB request; {read_rows:,} log rows for "
            f"{logged_checks:,} checks (unknown identifiers share one counted row)",
        ),
        absolute(
            AREA_NAME,
            BULK_BENCH,
            "seconds, request to last byte",
            seconds,
            "s",
            target=BULK_TARGET,
            notes=f"in-process check_many {number(service_seconds)} s: "
            + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()),
        ),
    ]


AREA = Area(
    AREA_NAME,
    "POST /v1/checks under load (wrk, one worker) beside a bare endpoint; a 1M-identifier bulk "
    "check beside reading the same rows",
    run,
)


def _main(argv: list[str]) -> None:
    command, *rest = argv
    if command == "serve":
        url, secret_file, port = rest
        serve(url, secret_file, int(port))
    elif command == "load":
        url, path, file, seconds, token = rest
        host, port = url.removeprefix("http://").split(":")
        bodies = Path(file).read_bytes().split(b"\n")
        load = asyncio.run(_load(host, int(port), path, bodies, float(seconds), token))
        doc = {k: v for k, v in asdict(load).items() if k != "tool"}
        print(json.dumps(doc))
    else:
        raise SystemExit(f"unknown command {command!r}; expected serve or load")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _main(sys.argv[1:])
