"""A subject's rating, its explanation and who has read or checked it, by public reference.

Staff (officers, reviewers, auditors) read any subject and state a purpose; a subject reads only
itself. Every read is logged and shows in the subject's access history.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from candor.api.auth import allow
from candor.api.deps import RegistryDep, SettingsDep, StoreDep
from candor.api.rating_models import (
    ExplanationOut,
    RatingOut,
    SubjectFound,
    SubjectQuery,
)
from candor.domain.access import STAFF, Principal, Role
from candor.services import subject_reads
from candor.services.explain import subject_by_ref
from candor.services.secret import load_secret
from candor.services.subject_file import subject_file

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

SubjectRef = Annotated[
    str,
    Path(pattern=r"^S[0-9A-F]{20}$", description="The subject's public reference (S…)."),
]
AsOf = Annotated[date | None, Query(description="The date to answer for (default: today).")]
Purpose = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Why you read this subject's data (logged; required of staff, ignored for "
        "the subject itself).",
    ),
]
Staff = Annotated[Principal, allow(*STAFF)]
Reader = Annotated[Principal, allow(*STAFF, Role.SUBJECT)]


@router.post(
    "/find",
    response_model=SubjectFound,
    summary="Find a subject by identifier",
    description="The identifier goes in the body so that it never appears in a URL or a log. "
    "404 when candor holds no records about it. Staff only; logged with its purpose.",
)
def find_subject(
    query: SubjectQuery, store: StoreDep, settings: SettingsDep, caller: Staff
) -> SubjectFound:
    hasher = load_secret(settings).identifier_hasher()
    ref = subject_reads.find(
        store, hasher, caller, query.identifier, purpose=query.purpose, today=date.today()
    )
    return SubjectFound(subject=ref)


@router.get(
    "/{subject}/explanation",
    response_model=ExplanationOut,
    summary="Why a subject is rated and listed as it is",
    description="Under each rulebook governing the date: the base, every record that counts "
    "with its rule, legal basis, points and until when; overriding grades with their record; "
    "listings with their record, term, the ways off the list and how to object.",
)
def explanation(
    subject: SubjectRef,
    store: StoreDep,
    registry: RegistryDep,
    caller: Reader,
    as_of: AsOf = None,
    purpose: Purpose = None,
) -> dict[str, object]:
    found = subject_reads.explanation(
        store,
        registry,
        caller,
        subject_by_ref(store, subject),
        as_of=as_of or date.today(),
        purpose=purpose,
    )
    return found.to_json()


@router.get(
    "/{subject}/rating",
    response_model=RatingOut,
    summary="A subject's scores, grades and listings in force",
)
def rating(
    subject: SubjectRef,
    store: StoreDep,
    registry: RegistryDep,
    caller: Reader,
    as_of: AsOf = None,
    purpose: Purpose = None,
) -> RatingOut:
    found = subject_reads.explanation(
        store,
        registry,
        caller,
        subject_by_ref(store, subject),
        as_of=as_of or date.today(),
        purpose=purpose,
        action="rating",
    )
    return RatingOut.model_validate(found.summary())


@router.get(
    "/{subject}/accesses",
    summary="Who has read this subject's data, and every check made about it",
    description="The latest 1,000 reads (client, role, purpose, time, what was returned) and "
    "checks (relying party, purpose, time, measure, answer), newest first.",
)
def accesses(
    subject: SubjectRef, store: StoreDep, caller: Reader, purpose: Purpose = None
) -> dict[str, Any]:
    found = subject_reads.history(store, caller, subject_by_ref(store, subject), purpose=purpose)
    return found.to_json()


@router.get(
    "/{subject}/file",
    summary="A subject's whole file, with ledger proofs",
    description="Every record (with source and legal basis), the rating and its explanation, "
    "the rating history, listings past and present, every check and read made about the "
    "subject, and each record's and listing's ledger entries with inclusion proofs in the "
    "current signed head. `format=html` gives a printable document. Logged with its purpose.",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/html": {}}}},
)
def file(
    subject: SubjectRef,
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    caller: Reader,
    as_of: AsOf = None,
    purpose: Purpose = None,
    format: Annotated[Literal["json", "html"], Query(description="json or html")] = "json",
) -> dict[str, object] | HTMLResponse:
    found = subject_file(
        store,
        registry,
        load_secret(settings),
        caller,
        subject_by_ref(store, subject),
        as_of=as_of or date.today(),
        purpose=purpose,
    )
    if format == "html":
        return HTMLResponse(found.html())
    return found.to_json()
