"""Small builders for test data: identifiers, record rows and record files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from candor.domain.access import Role
from candor.domain.identifiers import resident_id_check_char, uscc_check_char
from candor.domain.records import RECORD_FIELDS
from candor.services.clients import add_client
from candor.services.data_keys import DataKeys, open_personal
from candor.services.secret import load_secret
from candor.store.tables import records

COURT_TYPES = (
    "court.enforcement_order",
    "court.dishonest_debtor_finding",
    "court.obligation_performed",
)


def resident_id(seq: int, *, region: str = "110105", born: str = "19800307") -> str:
    """A valid resident ID; ``seq`` (0-999) makes it unique."""
    body = f"{region}{born}{seq:03d}"
    return body + resident_id_check_char(body)


def uscc(seq: int, *, region: str = "350100") -> str:
    """A valid unified social credit code; ``seq`` makes it unique."""
    body = f"91{region}MA{seq:07d}"
    return body + uscc_check_char(body)


def record(srid: str, identifier: str, **fields: Any) -> dict[str, Any]:
    """A valid court.enforcement_order row for a person, with fields overridden."""
    row: dict[str, Any] = {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": identifier,
        "name": "张三",
        "record_type": "court.enforcement_order",
        "occurred_on": "2025-01-10",
        "decided_on": "2025-02-01",
        "legal_basis": "Civil Procedure Law Art. 247",
        "status": "final",
        "refers_to": "",
        "attr.case_no": f"(2025)京0105执{srid}号",
        "attr.amount": "12000.50",
    }
    row.update(fields)
    return row


def record_object(
    srid: str, identifier: str, record_type: str, decided: str, **extra: Any
) -> dict[str, Any]:
    """A final record as an API object about a person, occurred and decided on ``decided``;
    ``attributes`` and any other field may be given."""
    return {
        "source_record_id": srid,
        "identifier_scheme": "cn_resident_id",
        "identifier": identifier,
        "name": "张三",
        "record_type": record_type,
        "occurred_on": decided,
        "decided_on": decided,
        "legal_basis": "cited",
        "status": "final",
        "attributes": {},
        **extra,
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(RECORD_FIELDS)
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The same rows as JSON Lines: attr.* columns become the attributes object."""
    with path.open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(as_object(row)) + b"\n")
    return path


def as_object(row: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {k: v for k, v in row.items() if not k.startswith("attr.") and v != ""}
    attributes = {k[5:]: v for k, v in row.items() if k.startswith("attr.") and v != ""}
    if attributes:
        obj["attributes"] = attributes
    return obj


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def bearer(store: Any, name: str, role: str, **registration: Any) -> dict[str, str]:
    """Register an API client with ``role`` and return the header that authenticates it."""
    added = add_client(store, name, Role(role), **registration)
    return {"Authorization": f"Bearer {added.token.token}"}


def stored_names(store: Any, settings: Any) -> dict[str, str | None]:
    """Each stored record's name by source_record_id, opened from its sealed data with the
    deployment secret (None: it holds none)."""
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(records))]
        keys = DataKeys(load_secret(settings)).for_opening(conn, {r["subject_id"] for r in rows})
    names = {}
    for row in rows:
        personal = open_personal(keys, row)
        names[row["source_record_id"]] = personal.name if personal else None
    return names
