"""Who may do what: the roles, the principal a request acts for, and the rules that go beyond a
role (a source submits only for itself, a subject reads only its own file, a relying party
checks only its registered measures for a registered purpose).

The role × endpoint matrix itself is declared route by route in the API (``candor.api.auth``)
and written out in docs/access.md; these are the rules every layer applies the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from candor.errors import Forbidden


class Role(StrEnum):
    """A principal's role. A client has exactly one: separate duties, separate credentials."""

    SOURCE = "source"  # submits records of its mandate's types
    OFFICER = "officer"  # registers sources and clients, activates rulebooks
    REVIEWER = "reviewer"  # decides objections and repair
    RELYING_PARTY = "relying_party"  # checks its registered measures for a stated purpose
    SUBJECT = "subject"  # reads its own file, objects
    AUDITOR = "auditor"  # reads the logs and the ledger
    PUBLIC = "public"  # no credentials: published rules and published lists only


CLIENT_ROLES = tuple(r for r in Role if r is not Role.PUBLIC)
STAFF = (Role.OFFICER, Role.REVIEWER, Role.AUDITOR)
"""The roles that read any subject's file — each read logged with its purpose."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a registered client (by name) or the public."""

    name: str
    role: Role
    client_id: int | None = None
    source: str | None = None  # SOURCE: the registered source it submits for
    subject_id: int | None = None  # SUBJECT: the subject it is
    measures: frozenset[str] = field(default_factory=frozenset)  # RELYING_PARTY
    purposes: frozenset[str] = field(default_factory=frozenset)  # RELYING_PARTY
    rate_per_minute: int | None = None  # None: the deployment's default
    bulk_per_day: int | None = None  # RELYING_PARTY: identifiers checked in bulk per day

    def may_submit_for(self, source: str) -> None:
        if self.role is not Role.SOURCE or self.source != source:
            raise Forbidden(f"client {self.name!r} may not submit records for source {source!r}")

    def may_check(self, measure: str, purpose: str) -> None:
        """A relying party asks only about its registered measures, for a registered purpose."""
        if self.role is not Role.RELYING_PARTY:
            raise Forbidden(f"client {self.name!r} is not a relying party")
        if measure not in self.measures:
            raise Forbidden(
                f"measure {measure!r} is not among the measures client {self.name!r} is "
                f"registered for ({', '.join(sorted(self.measures)) or 'none'})"
            )
        if purpose not in self.purposes:
            raise Forbidden(
                f"the stated purpose is not one client {self.name!r} is registered for; "
                f"registered: {', '.join(repr(p) for p in sorted(self.purposes)) or 'none'}"
            )

    def may_read_subject(self, subject_id: int) -> None:
        """Staff read any file (logged with purpose); a subject reads only its own."""
        if self.role in STAFF:
            return
        if self.role is Role.SUBJECT and self.subject_id == subject_id:
            return
        raise Forbidden(f"client {self.name!r} may not read this subject's file")


PUBLIC = Principal(name="public", role=Role.PUBLIC)
