"""Where notices go besides the store: a subject's own addresses (the subject, or an officer for
it) and a relying party's own (for ``answer.changed`` notices). Every later notice to the
recipient gets one delivery per address, by email or signed webhook (see ``candor notices``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from candor.api.auth import allow
from candor.api.deps import StoreDep
from candor.domain.access import Principal, Role
from candor.services import notices as service
from candor.services.explain import subject_by_ref

router = APIRouter(tags=["notices"])

SubjectRef = Annotated[str, Path(pattern=r"^S[0-9A-F]{20}$")]
ForSubject = Annotated[Principal, allow(Role.OFFICER, Role.SUBJECT)]
RelyingParty = Annotated[Principal, allow(Role.RELYING_PARTY)]


class AddressIn(BaseModel):
    channel: Literal["email", "webhook"]
    address: str = Field(
        min_length=3,
        max_length=320,
        description="An email address, or the https URL webhooks are POSTed to (signed per "
        "Standard Webhooks; `candor notices webhook-secret URL` gives the receiver its secret).",
    )


class AddressesOut(BaseModel):
    changed: bool = Field(description="Whether this request added or removed anything.")
    addresses: list[AddressIn]


def _answer(store: Any, caller: Principal, to: service.Recipient, changed: bool) -> Any:
    return {"changed": changed, "addresses": service.addresses(store, caller, to)}


@router.get(
    "/v1/subjects/{subject}/notice-addresses",
    response_model=AddressesOut,
    summary="Where a subject's notices are sent",
)
def subject_addresses(subject: SubjectRef, store: StoreDep, caller: ForSubject) -> Any:
    return _answer(
        store, caller, service.Recipient(subject_id=subject_by_ref(store, subject)), False
    )


@router.post(
    "/v1/subjects/{subject}/notice-addresses",
    response_model=AddressesOut,
    summary="Send a subject's notices to an address too",
)
def add_subject_address(
    subject: SubjectRef, body: AddressIn, store: StoreDep, caller: ForSubject
) -> Any:
    to = service.Recipient(subject_id=subject_by_ref(store, subject))
    changed = service.set_address(store, caller, to, body.channel, body.address)
    return _answer(store, caller, to, changed)


@router.post(
    "/v1/subjects/{subject}/notice-addresses/remove",
    response_model=AddressesOut,
    summary="Stop sending a subject's notices to an address",
)
def remove_subject_address(
    subject: SubjectRef, body: AddressIn, store: StoreDep, caller: ForSubject
) -> Any:
    to = service.Recipient(subject_id=subject_by_ref(store, subject))
    changed = service.set_address(store, caller, to, body.channel, body.address, remove=True)
    return _answer(store, caller, to, changed)


@router.get(
    "/v1/me/notice-addresses",
    response_model=AddressesOut,
    summary="Where this relying party's notices are sent",
)
def my_addresses(store: StoreDep, caller: RelyingParty) -> Any:
    return _answer(store, caller, service.Recipient(client=caller.name), False)


@router.post(
    "/v1/me/notice-addresses",
    response_model=AddressesOut,
    summary="Send this relying party's notices (an earlier answer changed) to an address too",
)
def add_my_address(body: AddressIn, store: StoreDep, caller: RelyingParty) -> Any:
    to = service.Recipient(client=caller.name)
    changed = service.set_address(store, caller, to, body.channel, body.address)
    return _answer(store, caller, to, changed)


@router.post(
    "/v1/me/notice-addresses/remove",
    response_model=AddressesOut,
    summary="Stop sending this relying party's notices to an address",
)
def remove_my_address(body: AddressIn, store: StoreDep, caller: RelyingParty) -> Any:
    to = service.Recipient(client=caller.name)
    changed = service.set_address(store, caller, to, body.channel, body.address, remove=True)
    return _answer(store, caller, to, changed)
