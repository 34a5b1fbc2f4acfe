"""Objections and appeals: a subject (or staff for it) files and appeals; reviewers decide.

The reviewer of an appeal must differ from the one who decided first (403 otherwise). While an
objection is open, checks about the subject carry `disputed`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path

from candor.api.auth import allow
from candor.api.deps import RegistryDep, SettingsDep, StoreDep
from candor.api.objection_models import (
    AppealIn,
    DecisionIn,
    ObjectionIn,
    ObjectionOut,
    ObjectionsOut,
    OverdueOut,
)
from candor.domain.access import STAFF, Principal, Role
from candor.errors import InvalidInput
from candor.services import objections as service
from candor.services.explain import subject_by_ref

router = APIRouter(tags=["objections"])

SubjectRef = Annotated[str, Path(pattern=r"^S[0-9A-F]{20}$")]
ObjectionRef = Annotated[str, Path(pattern=r"^O[0-9A-F]{16}$")]
# The subject itself, or an officer acting for it (a representative, a legal aid office).
ForSubject = Annotated[Principal, allow(Role.OFFICER, Role.SUBJECT)]
Reader = Annotated[Principal, allow(*STAFF, Role.SUBJECT)]
Reviewer = Annotated[Principal, allow(Role.REVIEWER)]


def _attachments(body: ObjectionIn) -> list[service.Attachment]:
    out = []
    for i, a in enumerate(body.attachments):
        try:
            content = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"attachments[{i}].content_base64: not base64") from None
        out.append(service.Attachment(a.name, a.media_type, content))
    return out


@router.post(
    "/v1/subjects/{subject}/objections",
    response_model=ObjectionOut,
    status_code=201,
    summary="Object to a record, a listing or a rating",
)
def file_objection(
    subject: SubjectRef,
    body: ObjectionIn,
    store: StoreDep,
    settings: SettingsDep,
    caller: ForSubject,
) -> dict[str, Any]:
    return service.file_objection(
        store,
        settings,
        caller,
        subject_by_ref(store, subject),
        about=body.about,
        target=body.target,
        statement=body.statement,
        attachments=_attachments(body),
        today=date.today(),
    )


@router.get(
    "/v1/subjects/{subject}/objections",
    response_model=ObjectionsOut,
    summary="A subject's objections and their course",
)
def list_objections(subject: SubjectRef, store: StoreDep, caller: Reader) -> dict[str, Any]:
    subject_id = subject_by_ref(store, subject)
    caller.may_read_subject(subject_id)
    return {"objections": service.objections_of(store, subject_id)}


@router.post(
    "/v1/objections/{objection}/review",
    response_model=ObjectionOut,
    summary="Take a filed objection in review",
)
def take(objection: ObjectionRef, store: StoreDep, caller: Reviewer) -> dict[str, Any]:
    return service.take(store, caller, objection)


@router.post(
    "/v1/objections/{objection}/decision",
    response_model=ObjectionOut,
    summary="Decide an objection, with reasons",
)
def decide(
    objection: ObjectionRef,
    body: DecisionIn,
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    caller: Reviewer,
) -> dict[str, Any]:
    return service.decide(
        store,
        registry,
        settings,
        caller,
        objection,
        decision=body.decision,
        reasons=body.reasons,
        today=date.today(),
    )


@router.post(
    "/v1/objections/{objection}/appeal",
    response_model=ObjectionOut,
    summary="Appeal a decision on an objection",
)
def appeal(
    objection: ObjectionRef,
    body: AppealIn,
    store: StoreDep,
    settings: SettingsDep,
    caller: ForSubject,
) -> dict[str, Any]:
    return service.appeal(
        store, settings, caller, objection, statement=body.statement, today=date.today()
    )


@router.post(
    "/v1/objections/{objection}/appeal-decision",
    response_model=ObjectionOut,
    summary="Decide an appeal (a reviewer other than the first)",
)
def decide_appeal(
    objection: ObjectionRef,
    body: DecisionIn,
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    caller: Reviewer,
) -> dict[str, Any]:
    return service.decide_appeal(
        store,
        registry,
        settings,
        caller,
        objection,
        decision=body.decision,
        reasons=body.reasons,
        today=date.today(),
    )


@router.get(
    "/v1/objections/overdue",
    response_model=OverdueOut,
    summary="Objections past their deadline (and decisions that became final)",
    dependencies=[allow(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
)
def overdue(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    return service.review_deadlines(store, settings, date.today()).to_json()
