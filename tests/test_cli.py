"""The command line, in-process, against real stores (SQLite, and PostgreSQL where set)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from candor.cli import app
from candor.store.migrate import head_revision
from tests.conftest import new_database_url
from tests.helpers import COURT_TYPES, read_rejects, record, resident_id, write_csv, write_jsonl

# Records dated 2025 are in the past whatever day the suite runs.
GOOD = [record("r1", resident_id(1)), record("r2", resident_id(2))]


class Candor:
    """Runs `candor …` against one store, with the secret kept in tmp_path."""

    def __init__(self, db: str, tmp_path: Path) -> None:
        self.db = db
        self.runner = CliRunner(env={"CANDOR_SECRET_FILE": str(tmp_path / "candor.secret")})

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [*args, "--db", self.db], catch_exceptions=False)

    def json(self, *args: str, code: int = 0) -> dict[str, Any]:
        result = self(*args, "--json")
        assert result.exit_code == code, result.output
        lines = result.stdout.splitlines()
        assert len(lines) == 1, f"expected one JSON object on stdout, got: {result.stdout!r}"
        parsed: dict[str, Any] = json.loads(lines[0])
        return parsed


@pytest.fixture
def candor(database_url: str, tmp_path: Path) -> Candor:
    return Candor(database_url, tmp_path)


@pytest.fixture
def ready(candor: Candor) -> Candor:
    candor.json("init")
    candor.json("sources", "add", "court", "--types", ",".join(COURT_TYPES))
    return candor


def test_init_creates_the_store_and_a_private_secret(candor: Candor, tmp_path: Path) -> None:
    first = candor.json("init")
    assert (first["schema_before"], first["schema"], first["secret_created"]) == (
        None,
        head_revision(),
        True,
    )
    secret = tmp_path / "candor.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    again = candor.json("init")
    assert (again["schema_before"], again["secret_created"]) == (head_revision(), False)


def test_commands_refuse_a_store_that_was_never_initialised(candor: Candor) -> None:
    result = candor("sources", "list")
    assert result.exit_code == 1
    assert "run `candor init` first" in result.stderr


def test_sources_are_registered_listed_and_changed(ready: Candor) -> None:
    listed = ready.json("sources", "list")["sources"]
    assert [(s["name"], s["mandate"]) for s in listed] == [("court", sorted(COURT_TYPES))]

    same = ready.json("sources", "add", "court", "--types", ",".join(COURT_TYPES))
    assert same["created"] is False
    different = ready.json("sources", "add", "court", "--types", "court.enforcement_order", code=1)
    assert different["error"]["status"] == 409

    granted = ready.json("sources", "grant", "court", "--types", "contract.breach_found")
    assert "contract.breach_found" in granted["mandate"]
    revoked = ready.json("sources", "revoke", "court", "--types", "contract.breach_found")
    assert "contract.breach_found" not in revoked["mandate"]


def test_an_unknown_record_type_in_a_mandate_is_named(ready: Candor) -> None:
    result = ready("sources", "add", "bank", "--types", "finance.loan_default,finance.nope")
    assert result.exit_code == 1
    assert "record type(s) not in the registry: finance.nope" in result.stderr


def test_ingest_prints_the_contract_summary_and_exits_0_with_rejects(
    ready: Candor, tmp_path: Path
) -> None:
    rows = [*GOOD, record("r3", resident_id(3), status="maybe")]
    path = write_csv(tmp_path / "court.csv", rows)

    summary = ready.json("ingest", str(path), "--source", "court")

    assert summary == {
        "accepted": 2,
        "rejected": 1,
        "duplicates": 0,
        "rejects": str(tmp_path / "court.csv.rejects.csv"),
    }
    [reject] = read_rejects(Path(summary["rejects"]))
    assert (reject["row"], reject["field"]) == ("4", "status")
    assert ready.json("ingest", str(path), "--source", "court")["duplicates"] == 2


def test_ingest_reads_json_lines_and_takes_a_rejects_path(ready: Candor, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "court.jsonl", GOOD)
    out = tmp_path / "out" / "rejects.csv"
    summary = ready.json("ingest", str(path), "--source", "court", "--rejects", str(out))
    assert (summary["accepted"], summary["rejects"]) == (2, str(out))
    assert out.read_text(encoding="utf-8").splitlines() == ["row,field,reason,source_record_id"]


def test_ingest_refuses_an_unknown_source_and_a_missing_file(ready: Candor, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "court.csv", GOOD)
    unknown = ready("ingest", str(path), "--source", "nobody")
    assert unknown.exit_code == 1
    assert "no source named 'nobody'" in unknown.stderr
    missing = ready.json("ingest", str(tmp_path / "nope.csv"), "--source", "court", code=1)
    assert missing["error"]["detail"].endswith("nope.csv: no such file")


def test_ingest_refuses_a_file_whose_header_is_wrong(ready: Candor, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("source_record_id,identifier,name\nr1,x,y\n", encoding="utf-8")
    result = ready("ingest", str(path), "--source", "court")
    assert result.exit_code == 1
    assert "lacks required column(s)" in result.stderr


def test_demo_builds_ingests_and_summarises_and_reruns_idempotently(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    candor = Candor(new_database_url("sqlite", tmp_path, request), tmp_path)
    args = (
        "demo",
        "--persons",
        "400",
        "--orgs",
        "80",
        "--dir",
        str(tmp_path / "demo"),
        "--no-serve",
    )

    first = candor.json(*args)

    assert first["generated"] is True
    assert first["subjects"]["person"] > 0 and first["subjects"]["organisation"] > 0
    ingested = first["ingested"]
    assert ingested["rows_read"] == first["records_generated"]
    assert ingested["accepted"] + ingested["rejected"] == ingested["rows_read"]
    assert ingested["rejected"] > 0  # the damaged identifiers
    assert first["records"] == ingested["accepted"]
    assert len(first["records_by_source"]) >= 6
    # Both sample rulebooks activated, everyone rated, one check answered over HTTP.
    assert first["rulebooks"] == ["court-dishonest-debtors@2017.2", "rongcheng-personal@2026.3"]
    rating = first["rating"]
    assert rating["subjects"] == sum(first["subjects"].values()) and rating["stored"] is True
    assert sum(rating["grades"].values()) > 0 and "dishonest_debtors" in rating["listings"]
    [reasons] = rating["reasons"].values()
    assert 0 < len(reasons) <= 5
    assert reasons == sorted(reasons, key=lambda r: -r["subjects"])
    assert all(r["points"] != 0 for r in reasons)
    check = first["check_over_http"]
    assert check["status"] == 200 and check["request"]["measure"] == "no_air_travel"
    assert check["answer"]["applies"] is (rating["listings"]["dishonest_debtors"] > 0)

    second = candor.json(*args)

    assert second["generated"] is False
    assert second["ingested"]["accepted"] == 0
    assert second["ingested"]["duplicates"] == ingested["accepted"]
    assert second["records"] == first["records"]


def test_logging_after_a_command_run_in_process_goes_to_the_stderr_of_the_moment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CliRunner swaps stderr for the command and closes its own afterwards; a log handler that
    # kept that stream would fail ("I/O operation on closed file") on every later line.
    candor = Candor(f"sqlite:///{tmp_path / 'candor.db'}", tmp_path)
    assert candor("init").exit_code == 0
    capsys.readouterr()

    logging.getLogger("candor.test").warning("after the command")

    err = capsys.readouterr().err
    assert "WARNING candor.test: after the command" in err
    assert "Logging error" not in err
