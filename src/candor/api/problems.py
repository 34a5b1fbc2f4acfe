"""Errors as RFC 9457 problem+json, from one table of exception type → handler.

Only server errors are logged, and without request data: a request body may hold identifiers.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from candor.errors import CandorError
from candor.services.logs import describe_failure

log = logging.getLogger("candor.api")
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    type_: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _candor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CandorError)
    if exc.STATUS >= 500:
        log.error(
            "%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc.detail
        )
    body = exc.to_problem()
    return problem(
        body.pop("status"),
        body.pop("title"),
        body.pop("detail"),
        body.pop("type"),
        headers=exc.headers() or None,
        **body,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's own error entries echo the offending input; candor never echoes request data.
    errors = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
        for e in exc.errors()
    ]
    return problem(
        422,
        "Invalid request",
        "the request does not match the schema; see `errors`",
        "urn:candor:problem:invalid-request",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = {
        401: "unauthenticated",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
    }.get(exc.status_code, "http-error")
    return problem(
        exc.status_code,
        str(exc.detail),
        str(exc.detail),
        f"urn:candor:problem:{slug}",
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The message is left out: a database error's message can quote the row it failed on.
    log.error(
        "unexpected %s on %s %s\n%s",
        describe_failure(exc),
        request.method,
        request.url.path,
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return problem(
        500,
        "Internal error",
        "candor failed to handle this request; it has been logged",
        "urn:candor:problem:internal",
    )


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
HANDLERS: dict[type[Exception], Handler] = {
    CandorError: _candor_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
