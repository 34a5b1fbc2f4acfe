"""Credit repair: a subject (or an officer for it) applies for early removal from a list after
its minimum publicity period; a reviewer approves or refuses with reasons. Approval ends the
listing on the day of approval."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path

from candor.api.auth import allow
from candor.api.deps import RegistryDep, SettingsDep, StoreDep
from candor.api.repair_models import (
    RepairDecisionIn,
    RepairIn,
    RepairOut,
    RepairsOut,
    RepairsOverdueOut,
)
from candor.domain.access import STAFF, Principal, Role
from candor.errors import InvalidInput
from candor.services import repair as service
from candor.services.explain import subject_by_ref

router = APIRouter(tags=["repair"])

SubjectRef = Annotated[str, Path(pattern=r"^S[0-9A-F]{20}$")]
RepairRef = Annotated[str, Path(pattern=r"^R[0-9A-F]{16}$")]
# The subject itself, or an officer acting for it; a reviewer decides and does not apply.
ForSubject = Annotated[Principal, allow(Role.OFFICER, Role.SUBJECT)]
Reader = Annotated[Principal, allow(*STAFF, Role.SUBJECT)]
Reviewer = Annotated[Principal, allow(Role.REVIEWER)]


def _attachments(body: RepairIn) -> list[service.Attachment]:
    out = []
    for i, a in enumerate(body.attachments):
        try:
            content = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"attachments[{i}].content_base64: not base64") from None
        out.append(service.Attachment(a.name, a.media_type, content))
    return out


@router.post(
    "/v1/subjects/{subject}/repairs",
    response_model=RepairOut,
    status_code=201,
    summary="Apply for early removal from a list, with proof of performance",
)
def apply(
    subject: SubjectRef,
    body: RepairIn,
    store: StoreDep,
    settings: SettingsDep,
    caller: ForSubject,
) -> dict[str, Any]:
    return service.apply(
        store,
        settings,
        caller,
        subject_by_ref(store, subject),
        listing=body.listing,
        statement=body.statement,
        attachments=_attachments(body),
        today=date.today(),
    )


@router.get(
    "/v1/subjects/{subject}/repairs",
    response_model=RepairsOut,
    summary="A subject's repair applications and their outcome",
)
def list_repairs(subject: SubjectRef, store: StoreDep, caller: Reader) -> dict[str, Any]:
    subject_id = subject_by_ref(store, subject)
    caller.may_read_subject(subject_id)
    return {"repairs": service.repairs_of(store, subject_id)}


@router.post(
    "/v1/repairs/{repair}/review",
    response_model=RepairOut,
    summary="Take a filed repair application in review",
)
def take(repair: RepairRef, store: StoreDep, caller: Reviewer) -> dict[str, Any]:
    return service.take(store, caller, repair)


@router.post(
    "/v1/repairs/{repair}/decide",
    response_model=RepairOut,
    summary="Approve or refuse a repair application, with reasons",
)
def decide(
    repair: RepairRef,
    body: RepairDecisionIn,
    store: StoreDep,
    registry: RegistryDep,
    caller: Reviewer,
) -> dict[str, Any]:
    return service.decide(
        store,
        registry,
        caller,
        repair,
        decision=body.decision,
        reasons=body.reasons,
        today=date.today(),
    )


@router.get(
    "/v1/repairs/overdue",
    response_model=RepairsOverdueOut,
    summary="Repair applications past their review deadline",
    dependencies=[allow(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
)
def overdue(store: StoreDep) -> dict[str, Any]:
    return {"overdue": service.overdue(store, date.today())}
