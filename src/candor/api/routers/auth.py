"""Credentials: OAuth2 client credentials, subject sign-in links, the signing keys, who am I."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from candor.api.auth import ANYONE, allow
from candor.domain.access import CLIENT_ROLES, Principal
from candor.errors import InvalidInput, Unauthenticated
from candor.services.authentication import Authenticator

router = APIRouter(tags=["authentication"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds the access token is valid for.")


def _basic(request: Request) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: client id and secret in an HTTP Basic header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthenticated("the Basic credentials are not base64 of `client:secret`") from None
    return (client_id, secret) if sep else None


@router.post(
    "/v1/oauth/token",
    response_model=TokenOut,
    summary="OAuth2 client credentials: an access token for a client's API token",
    description="RFC 6749 §4.4. Send `grant_type=client_credentials` with the client's name as "
    "`client_id` and one of its API tokens as `client_secret` (form fields, or HTTP Basic). "
    "The access token is a JWT signed by the deployment key (EdDSA; keys at "
    "`/.well-known/jwks.json`), valid for 5 minutes, and ends early when its API token or "
    "client is revoked.",
    dependencies=[allow(*ANYONE)],
)
async def token(
    request: Request,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=512)] = None,
) -> dict[str, Any]:
    if grant_type != "client_credentials":
        raise InvalidInput("grant_type must be client_credentials", error="unsupported_grant_type")
    basic = _basic(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise Unauthenticated("send client_id and client_secret", error="invalid_client")
    authenticator: Authenticator = request.app.state.authenticator
    issued = await run_in_threadpool(authenticator.client_credentials, client_id, client_secret)
    return issued.to_json()


class SignInIn(BaseModel):
    link: str = Field(
        min_length=1,
        max_length=512,
        description="The one-time token of a sign-in link (the part after `#` in the link, so "
        "that it never reaches a server log).",
    )


@router.post(
    "/v1/auth/sign-in",
    response_model=TokenOut,
    summary="A subject signs in with a one-time link",
    description="Spends the link (15 minutes, once) for a 15-minute access token of the "
    "subject's own client: it reads the subject's own file and nothing else.",
    dependencies=[allow(*ANYONE)],
)
async def sign_in(body: SignInIn, request: Request) -> dict[str, Any]:
    authenticator: Authenticator = request.app.state.authenticator
    issued = await run_in_threadpool(authenticator.redeem_sign_in, body.link)
    return issued.to_json()


@router.get(
    "/.well-known/jwks.json",
    summary="The public keys that verify candor's access tokens",
    dependencies=[allow(*ANYONE)],
)
def jwks(request: Request) -> dict[str, Any]:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.jwks()


class WhoAmI(BaseModel):
    client: str
    role: str
    source: str | None = None
    measures: list[str] = []
    purposes: list[str] = []


@router.get(
    "/v1/me",
    response_model=WhoAmI,
    summary="Who the credentials belong to, and what they allow",
)
def me(caller: Annotated[Principal, allow(*CLIENT_ROLES)]) -> WhoAmI:
    return WhoAmI(
        client=caller.name,
        role=caller.role.value,
        source=caller.source,
        measures=sorted(caller.measures),
        purposes=sorted(caller.purposes),
    )
