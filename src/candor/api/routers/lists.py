"""Lists of the governing rulebooks, and their entries in force on a date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from candor.api.auth import ANYONE, allow
from candor.api.deps import StoreDep
from candor.api.rating_models import EntriesOut, ListsOut
from candor.domain.access import Principal
from candor.services import lists as service

router = APIRouter(prefix="/v1/lists", tags=["lists"])
Reader = Annotated[Principal, allow(*ANYONE)]

AsOf = Annotated[date | None, Query(description="The date to answer for (default: today).")]


@router.get(
    "",
    response_model=ListsOut,
    summary="Every list, its legal basis and its size",
    dependencies=[allow(*ANYONE)],
)
def all_lists(store: StoreDep, as_of: AsOf = None) -> dict[str, object]:
    when = as_of or date.today()
    return {"as_of": when, "lists": [i.to_json() for i in service.lists(store, as_of=when)]}


@router.get(
    "/{name}/entries",
    response_model=EntriesOut,
    summary="Entries in force on a list",
    description="Listings in force on the date, by listing and subject reference (never an "
    "identifier or a name), a page at a time in listing order. Open to everyone for a list "
    "its rulebook publishes (`publish: true`, where the legal basis requires publication); "
    "other lists to officers, reviewers and auditors only.",
)
def list_entries(
    name: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")],
    store: StoreDep,
    reader: Reader,
    as_of: AsOf = None,
    # Capped at the largest 64-bit integer: a listing id is a BIGINT, and a larger value made
    # the database driver overflow (a 500) instead of a 422.
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="`next_after` of the previous page.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, object]:
    page = service.entries(
        store, name, as_of=as_of or date.today(), after=after, limit=limit, reader=reader
    )
    return page.to_json()
