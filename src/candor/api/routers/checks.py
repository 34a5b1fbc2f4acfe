"""`POST /v1/checks` and `POST /v1/checks/bulk`: does a measure apply? Nothing else is said.

The single check is the API's hot path. It runs on the event loop: its one read takes tens of
microseconds on SQLite, about what handing it to a worker thread and back costs, and while its
log row waits for the group commit (``CheckLog``, a writer thread) the loop serves other
requests. A check that needs
rating work first (records arrived since the subject was rated, or a date before its stored
listings) and a bulk check run on a worker thread.

Only relying parties ask, and only about the measures they are registered for, for a purpose
they are registered for (``Principal.may_check``); a bulk request's identifiers also count
against the client's daily bulk allowance before any is checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from candor.api.auth import allow
from candor.api.models import AsOf as AsOfField
from candor.api.models import BulkCheckIn, BulkCheckOut, CheckIn, CheckOut, MeasureName, Purpose
from candor.domain.access import Principal, Role
from candor.services.checks import (
    BULK_CHECK_LIMIT,
    Asked,
    CheckLog,
    Checks,
    check_many,
    split_reference,
)
from candor.services.quotas import Quotas
from candor.services.secret import KeyRing

JSON = "application/json"
CLIENT_NOTE = (
    "Relying parties only, for a measure and a purpose their registration names (else 403); "
    "the check is logged under the client's name."
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's own lifespan, so the store is open before and closed after."""
    # A key ring: the server follows `candor keys rotate` without a restart.
    app.state.checks = Checks(app.state.store, app.state.registry, KeyRing(app.state.settings))
    app.state.check_log = CheckLog(app.state.store)
    try:
        yield
    finally:
        app.state.check_log.close()  # commits what is queued: no acknowledged check is lost
        app.state.checks.close()


router = APIRouter(prefix="/v1", tags=["checks"], lifespan=_lifespan)

RelyingParty = Annotated[Principal, allow(Role.RELYING_PARTY)]


def _json(doc: dict[str, Any]) -> Response:
    return Response(orjson.dumps(doc), media_type=JSON)


@router.post(
    "/checks",
    response_model=CheckOut,
    summary="Does a measure apply to an identifier on a date?",
    description="Answers whether the measure applies and, if so, the listing's public "
    "reference, until when and how to object — nothing else about the subject. The check is "
    "logged (client, purpose, time, answer) and the answer is sent only once the log row is "
    "committed. 404 for a measure no rulebook in force defines; 422 for an invalid identifier "
    "(naming the rule it fails, never the identifier) or a missing purpose. " + CLIENT_NOTE,
)
async def post_check(body: CheckIn, request: Request, caller: RelyingParty) -> Response:
    caller.may_check(body.measure, body.purpose)
    state = request.app.state
    identifier = body.identifier
    if isinstance(identifier, str):
        scheme, raw = split_reference(identifier)
    else:
        scheme, raw = identifier.scheme, identifier.identifier
    today = date.today()
    as_of = body.as_of or today
    checks: Checks = state.checks
    found = checks.answer_from_store(scheme, raw, body.measure, as_of=as_of, today=today)
    if found is None:  # rating work first: on a worker thread, not on the loop
        found = await run_in_threadpool(
            checks.answer, scheme, raw, body.measure, as_of=as_of, today=today
        )
    log: CheckLog = state.check_log
    await log.write(found.log_row(Asked(caller.name, body.purpose)))
    return _json(found.answer.to_json())


class _BulkHead(BaseModel):
    """A bulk request without its identifiers, which are checked one by one by the service."""

    measure: MeasureName
    as_of: AsOfField = None
    purpose: Purpose


def _invalid(location: str, reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", location), "msg": reason, "type": "invalid"}])


def _bulk_request(body: bytes) -> tuple[_BulkHead, list[Any]]:
    """The request read with orjson and checked: the identifiers list as it came."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("", "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("", "expected a JSON object")
    identifiers = doc.pop("identifiers", None)
    if not isinstance(identifiers, list):
        raise _invalid("identifiers", "expected a list of identifiers")
    try:
        head = _BulkHead.model_validate(doc)
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
        ) from None
    return head, identifiers


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON Schema with its ``$defs`` written in place (for ``openapi_extra``)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


@router.post(
    "/checks/bulk",
    response_model=BulkCheckOut,
    summary="Check one measure for many identifiers",
    description=f"Up to {BULK_CHECK_LIMIT:,} identifiers per request (more: 413), and up to the "
    "client's daily bulk allowance (more: 429 with Retry-After, nothing checked). The answers "
    "come in the order of the identifiers: `{applies, listing, until}` for each valid one, "
    "`{error}` naming the rule an invalid one fails (it is not checked; the others are). "
    "Every check is logged before the response is sent. " + CLIENT_NOTE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": _inline_refs(BulkCheckIn.model_json_schema())}},
        }
    },
)
async def post_bulk_check(request: Request, caller: RelyingParty) -> Response:
    # Read with orjson and checked here rather than by FastAPI: a million identifiers through
    # the stdlib JSON parser and per-item model validation cost more than answering them.
    head, identifiers = _bulk_request(await request.body())
    caller.may_check(head.measure, head.purpose)
    state = request.app.state
    today = date.today()
    if len(identifiers) <= BULK_CHECK_LIMIT:  # larger: refused by check_many, nothing counted
        quotas: Quotas = state.quotas
        await run_in_threadpool(quotas.count_bulk, caller, len(identifiers), today)
    as_of = head.as_of or today
    checks: Checks = state.checks
    answer = await run_in_threadpool(
        check_many,
        checks.store,
        checks.registry,
        checks.hasher,
        identifiers,
        head.measure,
        as_of=as_of,
        today=today,
        client=caller.name,
        purpose=head.purpose,
        measures=checks.measures(as_of),
    )
    del identifiers
    return _json(answer.to_json())
