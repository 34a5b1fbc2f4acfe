"""A subject's file: everything candor holds and has done about one subject, with proofs.

What none of the real systems give their subjects: every record (with its source and legal
basis), the current rating and every line behind it, the rating history, every listing past and
present, objections and applications for early removal (repair) with their outcome, the notices
sent, and every check and read made about the subject — each record and listing with its ledger
entries and their inclusion proofs in the current signed head, so that the subject (or anyone
they show the file to) can check that nothing was changed in secret.

Reading a file is an access like any other: logged with who, why and when, and shown in the file
the next time it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from candor.domain import merkle
from candor.domain.access import Principal
from candor.domain.ledger import TreeHead, read_entry
from candor.domain.registry import Registry
from candor.services import ledger
from candor.services.data_keys import DataKeys, shown_records
from candor.services.explain import explain
from candor.services.objections import objections_of
from candor.services.plain import iso, plain
from candor.services.repair import repairs_of
from candor.services.secret import DeploymentSecret
from candor.services.subject_reads import HISTORY_LIMIT, log_read, stated_purpose
from candor.services.templates import template
from candor.store import Store
from candor.store import access_log as log
from candor.store import ledger as ledger_rows
from candor.store import subject_file as rows


def listing_state(listing: dict[str, Any], on: date) -> str:
    """Where a listing stands on a date, in words."""
    if listing["withdrawn_on"] is not None:
        return "withdrawn"
    if listing["removed_on"] is not None and listing["removed_on"] <= on:
        return "removed"
    if listing["starts_on"] > on:
        return "announced"
    if listing["ends_on"] is not None and listing["ends_on"] <= on:
        return "ended"
    return "in force"


@dataclass(frozen=True)
class SubjectFile:
    subject: dict[str, Any]
    as_of: date
    records: list[dict[str, Any]]
    explanation: dict[str, Any]
    rating_history: list[dict[str, Any]]
    listings: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    reads: list[dict[str, Any]]
    objections: list[dict[str, Any]]
    repairs: list[dict[str, Any]]  # applications for early removal from a list, with outcome
    notices: list[dict[str, Any]]
    head: TreeHead | None
    ledger: list[dict[str, Any]]  # entries about its records and listings, with proofs

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "as_of": self.as_of.isoformat(),
            "records": self.records,
            "rating": self.explanation,
            "rating_history": self.rating_history,
            "listings": self.listings,
            "checks": self.checks,
            "reads": self.reads,
            "objections": self.objections,
            "repairs": self.repairs,
            "notices": self.notices,
            "ledger": {
                "head": self.head.to_json() if self.head else None,
                "entries": self.ledger,
            },
        }

    def html(self) -> str:
        """The file as a printable HTML document."""
        return template("subject_file.html.j2").render(file=self.to_json())


def subject_file(
    store: Store,
    registry: Registry,
    secret: DeploymentSecret,
    principal: Principal,
    subject_id: int,
    *,
    as_of: date,
    purpose: str | None,
) -> SubjectFile:
    """The whole file of one subject, for one who may read it; the read is logged."""
    principal.may_read_subject(subject_id)
    stated = stated_purpose(principal, purpose)
    found = explain(store, registry, subject_id, as_of=as_of)
    head = ledger.head(store, secret) if _has_entries(store) else None
    with store.read() as conn:
        subject = rows.subject_row(conn, subject_id)
        records = shown_records(conn, DataKeys(secret), rows.records_of(conn, subject_id))
        listings = rows.listings_of(conn, subject_id)
        history = rows.rating_history(conn, subject_id, limit=HISTORY_LIMIT)
        checks = log.checks_of(conn, subject_id, limit=HISTORY_LIMIT)
        reads = log.accesses_of(conn, subject_id, limit=HISTORY_LIMIT)
        notices = [plain(n) for n in rows.notices_of(conn, subject_id, limit=HISTORY_LIMIT)]
        entries = rows.ledger_entries_about(
            conn, [r["id"] for r in records], [r["id"] for r in listings]
        )
        subtree = ledger_rows.TileNodes(conn).subtree()
        proved: list[dict[str, Any]] = [
            {
                "leaf_index": leaf,
                "object": {"table": table, "id": object_id},
                "entry": read_entry(data),
                "leaf_hash": merkle.leaf_hash(data).hex(),
                "proof": [h.hex() for h in merkle.inclusion_proof(leaf, head.size, subtree)],
            }
            for leaf, table, object_id, data in entries
            if head is not None and leaf < head.size
        ]
    leaves: dict[tuple[str, int], list[int]] = {}
    for leaf, table, object_id, _ in entries:
        if head is not None and leaf < head.size:
            leaves.setdefault((table, object_id), []).append(leaf)
    log_read(store, principal, "file", stated, subject_id, "the subject's whole file")
    return SubjectFile(
        subject={
            "ref": subject["ref"],
            "kind": subject["kind"],
            "region_code": subject["region_code"],
            "birth_date": iso(subject["birth_date"]),
            "known_since": iso(subject["created_at"]),
        },
        as_of=as_of,
        records=[
            {**plain(r), "ledger_entries": leaves.get(("records", r["id"]), [])} for r in records
        ],
        explanation=found.to_json(),
        rating_history=[plain(h) for h in history],
        listings=[
            {
                **plain(item),
                "state": listing_state(item, as_of),
                "ledger_entries": leaves.get(("listings", item["id"]), []),
            }
            for item in listings
        ],
        checks=[
            {
                "at": c.checked_at.isoformat(),
                "client": c.client,
                "purpose": c.purpose,
                "measure": c.measure,
                "as_of": c.as_of.isoformat(),
                "applies": c.applies,
                "listing": c.listing_ref,
                "until": iso(c.until),
            }
            for c in checks
        ],
        reads=[
            {
                "at": r.accessed_at.isoformat(),
                "client": r.client,
                "role": r.role,
                "purpose": r.purpose,
                "action": r.action,
                "returned": r.returned,
            }
            for r in reads
        ],
        objections=objections_of(store, subject_id),
        repairs=repairs_of(store, subject_id),
        notices=notices,
        head=head,
        ledger=proved,
    )


def _has_entries(store: Store) -> bool:
    with store.read() as conn:
        return ledger_rows.size(conn) > 0
