"""Rulebook versions: which are stored, which govern today, and each one's text."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path

from candor.api.auth import ANYONE, allow
from candor.api.deps import StoreDep
from candor.api.rating_models import RulebookDocument, RulebookVersions
from candor.domain.rulebook import parse_rulebook
from candor.services import rulebooks as service
from candor.store.rulebooks import StoredRulebook

# Public: a rule that is not published has no effect, so everyone may read every version.
router = APIRouter(prefix="/v1/rulebooks", tags=["rulebooks"], dependencies=[allow(*ANYONE)])


def _version(v: StoredRulebook, current: set[int]) -> dict[str, Any]:
    return {
        "rulebook": v.name,
        "version": v.version,
        "title": v.title,
        "effective_from": v.effective_from,
        "activated_at": v.activated_at.isoformat(),
        "activated_by": v.activated_by,
        "digest": v.digest,
        "in_force": v.id in current,
    }


@router.get("", response_model=RulebookVersions, summary="Every stored rulebook version")
def versions(store: StoreDep) -> dict[str, object]:
    current = service.in_force(store, date.today())
    return {"rulebooks": [_version(v, current) for v in service.every_version(store)]}


@router.get("/schema", summary="The JSON Schema of rulebook files")
def schema() -> dict[str, object]:
    return service.json_schema()


@router.get(
    "/{name}/{version}",
    response_model=RulebookDocument,
    summary="One rulebook version, as activated",
)
def one_version(
    name: Annotated[str, Path(pattern=r"^[a-z][a-z0-9\-]{0,63}$")],
    version: Annotated[str, Path(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+\-]{0,31}$")],
    store: StoreDep,
) -> dict[str, object]:
    found = service.find_version(store, name, version)
    current = service.in_force(store, date.today())
    parsed = parse_rulebook(found.content, origin=f"{name}@{version}")
    return {
        **_version(found, current),
        "content": found.content,
        "parsed": parsed.model_dump(mode="json", exclude_none=True),
    }
