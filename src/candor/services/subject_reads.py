"""Reading a subject's data: allowed by role and ownership, and every read logged.

Staff (officers, reviewers, auditors) read any subject's file but must say why; the subject
reads its own. Each read is logged — client, role, purpose, time, what was returned — and the
subject sees those entries, and every check made about it, in its file. The CLI reads as an
officer named after the operating-system user (``cli:<user>``).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from candor.domain.access import STAFF, Principal, Role
from candor.domain.pseudonyms import IdentifierHasher
from candor.domain.registry import Registry
from candor.errors import Forbidden, InvalidInput, NotFound
from candor.services.explain import Explanation, explain, subject_ref
from candor.services.rating import subject_id_for
from candor.store import Store
from candor.store import access_log as log
from candor.store.access_log import AccessRow, CheckSeen

OWN_FILE = "the subject's own file"
HISTORY_LIMIT = 1_000


def operator() -> Principal:
    """The person at the command line: an officer, named after the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still accountable by uid
        user = "uid-unknown"
    return Principal(name=f"cli:{user}"[:64], role=Role.OFFICER)


def stated_purpose(principal: Principal, purpose: str | None) -> str:
    if principal.role is Role.SUBJECT:
        return OWN_FILE
    stated = (purpose or "").strip()
    if not stated:
        raise InvalidInput("say why you read this subject's data (purpose)")
    if len(stated) > 200:
        raise InvalidInput("a purpose is at most 200 characters")
    # The purpose is logged and shown to the subject: plain text only (PostgreSQL also refuses
    # NUL in text, which would otherwise surface as a server error).
    if any(ord(c) < 32 or ord(c) == 127 for c in stated):
        raise InvalidInput("a purpose is plain text: no control characters")
    return stated


def log_read(
    store: Store,
    principal: Principal,
    action: str,
    purpose: str,
    subject_id: int | None,
    returned: str,
) -> None:
    row = AccessRow(
        datetime.now(UTC),
        principal.name,
        principal.role.value,
        purpose,
        action,
        subject_id,
        returned[:500],
    )
    with store.write() as conn:
        log.log_accesses(conn, [row])


def _described(found: Explanation) -> str:
    summary = found.summary()
    grades = ", ".join(f"{r['rulebook']}: {r['grade'] or 'not scored'}" for r in summary["ratings"])
    listings = len(summary["listings"])
    return f"as of {found.as_of}: {grades or 'no rating'}; {listings} listing(s) in force"


def explanation(
    store: Store,
    registry: Registry,
    principal: Principal,
    subject_id: int,
    *,
    as_of: date,
    purpose: str | None,
    action: str = "explanation",
) -> Explanation:
    """A subject's ratings and listings with every line behind them, for one who may read it."""
    principal.may_read_subject(subject_id)
    stated = stated_purpose(principal, purpose)
    found = explain(store, registry, subject_id, as_of=as_of)
    log_read(store, principal, action, stated, subject_id, f"{action} {_described(found)}")
    return found


def find(
    store: Store,
    hasher: IdentifierHasher,
    principal: Principal,
    identifier: str,
    *,
    purpose: str | None,
    today: date,
) -> str:
    """The public reference of the subject an identifier names (staff only; logged).

    Raises:
        NotFound: candor holds no records about the identifier (also logged: a search is an
            access even when it finds nothing).
    """
    if principal.role not in STAFF:
        raise Forbidden(f"client {principal.name!r} may not look subjects up by identifier")
    stated = stated_purpose(principal, purpose)
    subject_id = subject_id_for(store, hasher, identifier, today)
    returned = "no subject" if subject_id is None else "the subject's reference"
    log_read(store, principal, "find", stated, subject_id, returned)
    if subject_id is None:
        raise NotFound("candor holds no records about this identifier")
    return subject_ref(store, subject_id)


@dataclass(frozen=True)
class AccessHistory:
    """Who has read a subject's data and checked it, latest first."""

    subject: str
    reads: list[AccessRow]
    checks: list[CheckSeen]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "reads": [
                {
                    "at": r.accessed_at.isoformat(),
                    "client": r.client,
                    "role": r.role,
                    "purpose": r.purpose,
                    "action": r.action,
                    "returned": r.returned,
                }
                for r in self.reads
            ],
            "checks": [
                {
                    "at": c.checked_at.isoformat(),
                    "client": c.client,
                    "purpose": c.purpose,
                    "measure": c.measure,
                    "as_of": c.as_of.isoformat(),
                    "applies": c.applies,
                    "listing": c.listing_ref,
                    "until": c.until.isoformat() if c.until else None,
                }
                for c in self.checks
            ],
        }


def history(
    store: Store, principal: Principal, subject_id: int, *, purpose: str | None
) -> AccessHistory:
    """Every logged read and check about a subject (the latest ``HISTORY_LIMIT`` of each).

    Reading the history is itself an access, logged after the history is read.
    """
    principal.may_read_subject(subject_id)
    stated = stated_purpose(principal, purpose)
    ref = subject_ref(store, subject_id)
    with store.read() as conn:
        reads = log.accesses_of(conn, subject_id, limit=HISTORY_LIMIT)
        checks = log.checks_of(conn, subject_id, limit=HISTORY_LIMIT)
    log_read(store, principal, "access_history", stated, subject_id, "the access history")
    return AccessHistory(ref, reads, checks)
