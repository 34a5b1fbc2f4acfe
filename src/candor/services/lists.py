"""Lists: what each governing rulebook lists, and who is on a list on a date.

Entries come from the stored listings, which the last rating run (and every re-rating of a
subject whose records changed) computed; the answer says for which date they were computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from candor.domain.access import STAFF, Principal, Role
from candor.domain.listings import effective_end
from candor.domain.rulebook import ActiveRulebook
from candor.errors import Forbidden, NotFound, Unauthenticated
from candor.services.rulebooks import governing
from candor.store import listings as stored
from candor.store import ratings as runs
from candor.store.database import Store


@dataclass(frozen=True)
class ListInfo:
    name: str
    title: str
    rulebook: str
    legal_basis: str | None
    term: str | None
    measures: list[str]
    publish: bool
    how_to_object: str
    in_force: int

    def to_json(self) -> dict[str, Any]:
        return {
            "list": self.name,
            "title": self.title,
            "rulebook": self.rulebook,
            "legal_basis": self.legal_basis,
            "term": self.term,
            "measures": self.measures,
            "publish": self.publish,
            "how_to_object": self.how_to_object,
            "in_force": self.in_force,
        }


def _infos(rulebooks: list[ActiveRulebook], counts: dict[tuple[int, str], int]) -> list[ListInfo]:
    return [
        ListInfo(
            name=name,
            title=spec.title,
            rulebook=active.rulebook.key,
            legal_basis=spec.legal_basis or active.rulebook.legal_basis,
            term=str(spec.term) if spec.term else None,
            measures=sorted(
                m for m, measure in active.rulebook.measures.items() if name in measure.imposed_by
            ),
            publish=spec.publish,
            how_to_object=spec.how_to_object,
            in_force=counts.get((active.id, name), 0),
        )
        for active in rulebooks
        for name, spec in active.rulebook.lists.items()
    ]


def lists(store: Store, *, as_of: date) -> list[ListInfo]:
    """Every list of the rulebooks governing ``as_of``, with its entries in force then."""
    rulebooks = governing(store, as_of)
    with store.read() as conn:
        counts = stored.counts(conn, [a.id for a in rulebooks], as_of)
    return _infos(rulebooks, counts)


@dataclass(frozen=True)
class Page:
    list_name: str
    as_of: date
    computed_as_of: date | None  # the date of the last rating run
    entries: list[dict[str, Any]]
    next_after: int | None  # pass as ``after`` for the next page

    def to_json(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "as_of": self.as_of.isoformat(),
            "computed_as_of": self.computed_as_of.isoformat() if self.computed_as_of else None,
            "entries": [
                {
                    "listing": e["ref"],
                    "subject": e["subject"],
                    "kind": e["kind"],
                    "starts_on": e["starts_on"].isoformat(),
                    "until": e["until"].isoformat() if e["until"] else None,
                }
                for e in self.entries
            ],
            "next_after": self.next_after,
        }


def entries(
    store: Store,
    name: str,
    *,
    as_of: date,
    after: int = 0,
    limit: int = 100,
    reader: Principal | None = None,
) -> Page:
    """One page of the listings in force on ``as_of`` on the list ``name``.

    A list whose rulebook says `publish` is open to everyone; any other list only to staff
    (officers, reviewers, auditors). ``reader`` None: candor itself (the CLI, the demo).

    Raises:
        NotFound: no rulebook governing ``as_of`` has this list.
        Unauthenticated, Forbidden: the list is not published and the reader is not staff.
    """
    owner = next((a for a in governing(store, as_of) if name in a.rulebook.lists), None)
    if owner is None:
        raise NotFound(f"no rulebook in force on {as_of} has a list {name!r}")
    if reader is not None and reader.role not in STAFF and not owner.rulebook.lists[name].publish:
        reason = f"list {name!r} is not published (its legal basis does not require it)"
        if reader.role is Role.PUBLIC:
            raise Unauthenticated(f"{reason}; staff credentials are needed")
        raise Forbidden(reason)
    with store.read() as conn:
        rows = stored.entries(conn, owner.id, name, as_of, after=after, limit=limit)
        run = runs.last_run(conn)
    for row in rows:
        row["until"] = effective_end(row)
    return Page(
        list_name=name,
        as_of=as_of,
        computed_as_of=run["as_of"] if run else None,
        entries=rows,
        next_after=rows[-1]["id"] if len(rows) == limit else None,
    )


def listed_subjects(store: Store, as_of: date) -> set[int]:
    """Ids of the subjects some list holds on ``as_of`` (from the stored listings)."""
    ids = [a.id for a in governing(store, as_of)]
    with store.read() as conn:
        return stored.subjects_listed(conn, ids, as_of)
