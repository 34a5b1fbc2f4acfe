"""A subject's rating and its explanation, by the subject's public reference."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from candor.api.deps import RegistryDep, SettingsDep, StoreDep
from candor.api.rating_models import (
    ExplanationOut,
    RatingOut,
    SubjectFound,
    SubjectQuery,
)
from candor.errors import NotFound
from candor.services.explain import explain, subject_by_ref, subject_ref
from candor.services.rating import subject_id_for
from candor.services.secret import load_secret

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

SubjectRef = Annotated[
    str,
    Path(pattern=r"^S[0-9A-F]{20}$", description="The subject's public reference (S…)."),
]
AsOf = Annotated[date | None, Query(description="The date to answer for (default: today).")]


@router.post(
    "/find",
    response_model=SubjectFound,
    summary="Find a subject by identifier",
    description="The identifier goes in the body so that it never appears in a URL or a log. "
    "404 when candor holds no records about it.",
)
def find_subject(query: SubjectQuery, store: StoreDep, settings: SettingsDep) -> SubjectFound:
    hasher = load_secret(settings).identifier_hasher()
    subject_id = subject_id_for(store, hasher, query.identifier, date.today())
    if subject_id is None:
        raise NotFound("candor holds no records about this identifier")
    return SubjectFound(subject=subject_ref(store, subject_id))


@router.get(
    "/{subject}/explanation",
    response_model=ExplanationOut,
    summary="Why a subject is rated and listed as it is",
    description="Under each rulebook governing the date: the base, every record that counts "
    "with its rule, legal basis, points and until when; overriding grades with their record; "
    "listings with their record, term, the ways off the list and how to object.",
)
def explanation(
    subject: SubjectRef, store: StoreDep, registry: RegistryDep, as_of: AsOf = None
) -> dict[str, object]:
    found = explain(store, registry, subject_by_ref(store, subject), as_of=as_of or date.today())
    return found.to_json()


@router.get(
    "/{subject}/rating",
    response_model=RatingOut,
    summary="A subject's scores, grades and listings in force",
)
def rating(
    subject: SubjectRef, store: StoreDep, registry: RegistryDep, as_of: AsOf = None
) -> RatingOut:
    found = explain(store, registry, subject_by_ref(store, subject), as_of=as_of or date.today())
    return RatingOut.model_validate(found.summary())
