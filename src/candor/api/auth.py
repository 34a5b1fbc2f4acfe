"""Authentication, the role × endpoint matrix, and rate limits, as one route dependency.

Every route declares who may call it with ``allow(...)``; a route without a declaration fails
the matrix test (tests/test_access.py), and docs/access.md is the matrix this module's
``matrix(app)`` writes out. The dependency authenticates the bearer credential (none: the
public), counts the request against the caller's rate limit — refused requests too, so that
probing costs the same as asking — and only then checks the role.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from candor.domain.access import PUBLIC, Principal, Role
from candor.errors import Forbidden, Unauthenticated
from candor.services.authentication import Authenticator
from candor.services.quotas import Quotas

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`candor_…`, from `candor clients add`) or an access token from "
    "`POST /v1/oauth/token`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


async def principal_of(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """Who the request acts for. No credentials: the public; bad credentials: 401."""
    if credentials is None:  # none, or another scheme (the token endpoint reads Basic itself)
        return PUBLIC
    authenticator: Authenticator = request.app.state.authenticator
    found = authenticator.cached(credentials.credentials)
    if found is None:  # argon2id or a signature check: milliseconds, off the event loop
        found = await run_in_threadpool(authenticator.verify, credentials.credentials)
    return found


def allow(*roles: Role) -> Any:
    """The dependency of a route the given roles may call (``Role.PUBLIC``: anyone)."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    async def guard(request: Request, credentials: Credentials) -> Principal:
        principal = await principal_of(request, credentials)
        quotas: Quotas = request.app.state.quotas
        quotas.hit(principal, request.client.host if request.client else "unknown")
        if principal.role in allowed or Role.PUBLIC in allowed:
            return principal
        if principal.role is Role.PUBLIC:
            raise Unauthenticated(f"this endpoint needs credentials (roles: {names})")
        raise Forbidden(f"role {principal.role.value} may not call this endpoint (roles: {names})")

    guard.roles = allowed  # type: ignore[attr-defined]  # read by matrix()
    return Depends(guard)


ANYONE = (Role.PUBLIC,)
"""Routes open to everyone: published rules and lists, health."""

DOCUMENTATION = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
"""FastAPI's own pages, public and free of data: the published API description."""


def _roles_of(dependant: Dependant) -> Iterator[frozenset[Role]]:
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            yield roles
        yield from _roles_of(dep)


def matrix(app: FastAPI) -> list[tuple[str, str, frozenset[Role] | None]]:
    """(method, path, roles allowed) for every API route; roles None: the route declares none
    (or more than one). FastAPI's own documentation routes are left out (``DOCUMENTATION``)."""
    out: list[tuple[str, str, frozenset[Role] | None]] = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or route.path is None:
            continue
        declared = list(_roles_of(dependant))
        roles = declared[0] if len(declared) == 1 else None
        for method in sorted(route.methods or ()):
            out.append((method, route.path, roles))
    return sorted(out, key=lambda r: (r[1], r[0]))


def matrix_markdown(app: FastAPI) -> str:
    """The matrix as the Markdown table docs/access.md carries."""
    roles = list(Role)
    head = "| endpoint | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---|" + "---|" * len(roles)
    lines = [head, rule]
    for method, path, allowed in matrix(app):
        cells = []
        for role in roles:
            ok = allowed is not None and (role in allowed or Role.PUBLIC in allowed)
            cells.append("yes" if ok else "—")
        lines.append(f"| `{method} {path}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
