"""Registering API clients and their tokens: add, list, revoke, and one-time sign-in links.

A token is ``candor_<public id>_<secret>``: the prefix lets secret scanners and people recognise
one, the public id finds its row (and names it in lists and revocations), and only an argon2id
hash of the whole token is stored. A token is shown once, when it is made.

Subjects sign in with one-time links (``candorlink_…``, 15 minutes, spent on first use) that a
later portal or a notice delivers; redeeming one gives a short-lived access token for the
subject's own client (``candor.services.bearer``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from candor.domain.access import CLIENT_ROLES, Principal, Role
from candor.errors import Conflict, InvalidInput, NotFound
from candor.services.explain import subject_ref
from candor.services.rulebooks import governing
from candor.store import Store
from candor.store import clients as rows
from candor.store import sources as source_rows
from candor.store.clients import ClientRow, TokenRow

API_PREFIX = "candor_"
LINK_PREFIX = "candorlink_"
PUBLIC_ID_LENGTH = 12
_PUBLIC_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PUBLIC_SET = frozenset(_PUBLIC_ALPHABET)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
SIGN_IN_LINK_LIFETIME = timedelta(minutes=15)
DEFAULT_TOKEN_DAYS = 365

# RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes): argon2-cffi's default.
# Verifying takes tens of milliseconds; the API verifies a token once per process and caches
# the result (candor.services.authentication).
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class NewToken:
    """A token just made. ``token`` is shown once and never stored."""

    client: str
    public_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class ClientAdded:
    client: ClientRow
    token: NewToken


def _public_id() -> str:
    return "".join(secrets.choice(_PUBLIC_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


def split_token(token: str) -> tuple[str, str] | None:
    """(kind, public id) of a token candor made, or None when it is not one."""
    for kind, prefix in (("api", API_PREFIX), ("sign_in", LINK_PREFIX)):
        if token.startswith(prefix):
            rest = token[len(prefix) :]
            public_id = rest[:PUBLIC_ID_LENGTH]
            sep, secret = (
                rest[PUBLIC_ID_LENGTH : PUBLIC_ID_LENGTH + 1],
                rest[PUBLIC_ID_LENGTH + 1 :],
            )
            if sep == "_" and secret and set(public_id) <= _PUBLIC_SET:
                return kind, public_id
    return None


def _new_token(conn: Any, client: ClientRow, kind: str, expires_at: datetime) -> NewToken:
    public_id = _public_id()
    prefix = API_PREFIX if kind == "api" else LINK_PREFIX
    token = f"{prefix}{public_id}_{secrets.token_urlsafe(32)}"
    rows.insert_token(
        conn,
        public_id=public_id,
        client_id=client.id,
        kind=kind,
        hash=_HASHER.hash(token),
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )
    return NewToken(client.name, public_id, token, expires_at)


def verify_token(row: TokenRow, token: str) -> bool:
    """Whether ``token`` is the one hashed in ``row`` (argon2id; constant time inside)."""
    try:
        return _HASHER.verify(row.hash, token)
    except (VerificationError, InvalidHashError):
        return False


def _expiry(days: int) -> datetime:
    if not 1 <= days <= 3650:
        raise InvalidInput("a token lives between 1 and 3650 days (--expires-in)")
    return datetime.now(UTC) + timedelta(days=days)


def _measures_known(store: Store, measures: frozenset[str], today: date) -> None:
    known = {m for a in governing(store, today) for m in a.rulebook.measures}
    unknown = sorted(measures - known)
    if unknown:
        raise InvalidInput(
            f"measure(s) not defined by any rulebook in force: {', '.join(unknown)}",
            unknown=unknown,
        )


def _clean(items: Iterable[str]) -> frozenset[str]:
    return frozenset(i.strip() for i in items if i.strip())


def add_client(
    store: Store,
    name: str,
    role: Role,
    *,
    description: str = "",
    source: str | None = None,
    subject_id: int | None = None,
    measures: Iterable[str] = (),
    purposes: Iterable[str] = (),
    rate_per_minute: int | None = None,
    bulk_per_day: int | None = None,
    expires_in_days: int = DEFAULT_TOKEN_DAYS,
) -> ClientAdded:
    """Register a client with one role and make its first token (shown once).

    What a role needs is required, and what it does not use is refused, so a registration
    reads as exactly what the client may do: a source names its registered source; a relying
    party names its measures and purposes; a subject client is who it names.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            "a client name is 1-64 characters: lower-case letters, digits, '_', '.', '-'"
        )
    if role not in CLIENT_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(CLIENT_ROLES)}")
    wanted_measures, wanted_purposes = _clean(measures), _clean(purposes)
    if role is Role.RELYING_PARTY:
        if not wanted_measures or not wanted_purposes:
            raise InvalidInput("a relying party is registered for its measures and purposes")
        _measures_known(store, wanted_measures, datetime.now(UTC).date())
    elif wanted_measures or wanted_purposes or bulk_per_day is not None:
        raise InvalidInput("only a relying party has measures, purposes and a bulk allowance")
    if (role is Role.SOURCE) != (source is not None):
        raise InvalidInput("a source client, and only one, names its registered source")
    if (role is Role.SUBJECT) != (subject_id is not None):
        raise InvalidInput("a subject client, and only one, names its subject")
    for value, what in ((rate_per_minute, "rate per minute"), (bulk_per_day, "bulk per day")):
        if value is not None and value < 1:
            raise InvalidInput(f"the {what} must be at least 1")
    expires_at = _expiry(expires_in_days)
    now = datetime.now(UTC)
    with store.write() as conn:
        if rows.get_client(conn, name=name) is not None:
            raise Conflict(f"a client named {name!r} exists (names are never reused)")
        source_id = None
        if source is not None:
            found = source_rows.get_source(conn, source)
            if found is None:
                raise NotFound(f"no source named {source!r}; register it with `candor sources add`")
            source_id = found.id
        client_id = rows.insert_client(
            conn,
            name=name,
            role=role.value,
            description=description,
            source_id=source_id,
            subject_id=subject_id,
            measures=sorted(wanted_measures),
            purposes=sorted(wanted_purposes),
            rate_per_minute=rate_per_minute,
            bulk_per_day=bulk_per_day,
            created_at=now,
        )
        client = rows.get_client(conn, id=client_id)
        assert client is not None
        token = _new_token(conn, client, "api", expires_at)
    return ClientAdded(client, token)


def _require(conn: Any, name: str) -> ClientRow:
    client = rows.get_client(conn, name=name)
    if client is None:
        raise NotFound(f"no client named {name!r}")
    return client


def new_token(store: Store, name: str, *, expires_in_days: int = DEFAULT_TOKEN_DAYS) -> NewToken:
    """Another token for a client (e.g. to replace one before it expires)."""
    expires_at = _expiry(expires_in_days)
    with store.write() as conn:
        client = _require(conn, name)
        if client.revoked_at is not None:
            raise Conflict(f"client {name!r} is revoked")
        return _new_token(conn, client, "api", expires_at)


@dataclass(frozen=True)
class ClientListed:
    client: ClientRow
    tokens: list[TokenRow]


def list_clients(store: Store) -> list[ClientListed]:
    with store.read() as conn:
        return [ClientListed(c, rows.tokens_of(conn, c.id)) for c in rows.list_clients(conn)]


def revoke(store: Store, what: str) -> str:
    """Revoke a client (by name: with all its tokens) or one token (by its public id).

    Running API servers stop accepting it within their status cache's lifetime (seconds).
    """
    now = datetime.now(UTC)
    with store.write() as conn:
        if rows.get_token(conn, what) is not None:
            if not rows.revoke_token(conn, what, now):
                raise Conflict(f"token {what} is already revoked")
            return "token"
        client = _require(conn, what)
        if client.revoked_at is not None:
            raise Conflict(f"client {what!r} is already revoked")
        rows.revoke_client(conn, client.id, now)
        return "client"


def sign_in_link(store: Store, subject_id: int) -> NewToken:
    """A one-time sign-in token for a subject, for the portal or a notice to deliver.

    The subject's own client is made on first use (role subject, named by the subject's public
    reference, never by an identifier or a name).
    """
    ref = subject_ref(store, subject_id)
    with store.write() as conn:
        client = rows.subject_client(conn, subject_id)
        if client is None:
            client_id = rows.insert_client(
                conn,
                name=f"subject-{ref.lower()}",
                role=Role.SUBJECT.value,
                description="the subject's own sign-in",
                subject_id=subject_id,
                measures=[],
                purposes=[],
                created_at=datetime.now(UTC),
            )
            client = rows.get_client(conn, id=client_id)
            assert client is not None
        if client.revoked_at is not None:
            raise Conflict("this subject's sign-in is revoked")
        return _new_token(conn, client, "sign_in", datetime.now(UTC) + SIGN_IN_LINK_LIFETIME)


def principal_of(client: ClientRow) -> Principal:
    return Principal(
        name=client.name,
        role=Role(client.role),
        client_id=client.id,
        source=client.source,
        subject_id=client.subject_id,
        measures=frozenset(client.measures),
        purposes=frozenset(client.purposes),
        rate_per_minute=client.rate_per_minute,
        bulk_per_day=client.bulk_per_day,
    )
