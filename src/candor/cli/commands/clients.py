"""`candor clients …`: API clients, their roles and tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr, stdout
from candor.domain.access import CLIENT_ROLES, Role
from candor.errors import InvalidInput, NotFound
from candor.services import clients as service
from candor.services.clients import DEFAULT_TOKEN_DAYS, NewToken
from candor.services.rating import subject_id_for
from candor.services.secret import load_secret
from candor.store import open_store
from candor.store.clients import ClientRow, TokenRow

app = typer.Typer(
    help="API clients: one role each (source, officer, reviewer, relying_party, subject, "
    "auditor), authenticated by tokens shown once.",
    no_args_is_help=True,
)

ExpiresOption = Annotated[
    int, typer.Option("--expires-in", metavar="DAYS", help="Days until the token expires.")
]


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _token_json(token: NewToken) -> dict[str, object]:
    return {
        "client": token.client,
        "token_id": token.public_id,
        "token": token.token,
        "expires_at": token.expires_at.isoformat(timespec="seconds"),
    }


def _show_token(token: NewToken) -> None:
    stdout.print(f"token for client {token.client} (id {token.public_id}):")
    stdout.print(f"  {token.token}", highlight=False, soft_wrap=True)
    stderr.print(
        f"[yellow]Shown once:[/] store it now. It expires {token.expires_at:%Y-%m-%d}; "
        f"revoke it with `candor clients revoke {token.public_id}`."
    )


def _state(token: TokenRow, now: datetime) -> str:
    if token.revoked_at:
        return "revoked"
    if token.used_at:
        return "used"
    return "expired" if token.expires_at <= now else "active"


def _client_json(client: ClientRow, tokens: list[TokenRow] | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "name": client.name,
        "role": client.role,
        "description": client.description,
        "source": client.source,
        "subject": client.subject_ref,
        "measures": list(client.measures),
        "purposes": list(client.purposes),
        "rate_per_minute": client.rate_per_minute,
        "bulk_per_day": client.bulk_per_day,
        "created_at": client.created_at.isoformat(timespec="seconds"),
        "revoked_at": client.revoked_at.isoformat(timespec="seconds")
        if client.revoked_at
        else None,
    }
    if tokens is not None:
        now = datetime.now(UTC)
        data["tokens"] = [
            {
                "token_id": t.public_id,
                "kind": t.kind,
                "created_at": t.created_at.isoformat(timespec="seconds"),
                "expires_at": t.expires_at.isoformat(timespec="seconds"),
                "state": _state(t, now),
            }
            for t in tokens
        ]
    return data


@app.command("add")
@reports_errors
def add(
    name: Annotated[str, typer.Argument(help="The client's name, e.g. airline-ca.")],
    role: Annotated[
        str,
        typer.Option(help=f"One of: {', '.join(CLIENT_ROLES)}.", metavar="ROLE"),
    ],
    source: Annotated[
        str | None, typer.Option(help="source: the registered source it submits for.")
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(metavar="SCHEME:IDENTIFIER", help="subject: the subject it is."),
    ] = None,
    measures: Annotated[
        str, typer.Option(metavar="M1,M2,…", help="relying_party: the measures it may check.")
    ] = "",
    purposes: Annotated[
        str,
        typer.Option(
            metavar="P1,P2,…", help="relying_party: the purposes it may state, comma-separated."
        ),
    ] = "",
    rate_per_minute: Annotated[
        int | None, typer.Option(help="Requests a minute (default: the deployment's).")
    ] = None,
    bulk_per_day: Annotated[
        int | None,
        typer.Option(
            help="relying_party: identifiers checked in bulk a day (default: the deployment's)."
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="Who the client is.")] = "",
    expires_in: ExpiresOption = DEFAULT_TOKEN_DAYS,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a client with one role and print its first token (shown once)."""
    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput(f"--role must be one of: {', '.join(CLIENT_ROLES)}") from None
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        subject_id = None
        if subject is not None:
            hasher = load_secret(settings).identifier_hasher()
            subject_id = subject_id_for(store, hasher, subject, datetime.now(UTC).date())
            if subject_id is None:
                raise NotFound("candor holds no records about this identifier")
        added = service.add_client(
            store,
            name,
            wanted,
            description=description,
            source=source,
            subject_id=subject_id,
            measures=_list(measures),
            purposes=_list(purposes),
            rate_per_minute=rate_per_minute,
            bulk_per_day=bulk_per_day,
            expires_in_days=expires_in,
        )
    data = {**_client_json(added.client), **_token_json(added.token)}

    def render() -> None:
        stdout.print(f"client {name}: registered, role {added.client.role}")
        _show_token(added.token)

    emit(data, as_json=as_json, render=render)


@app.command("token")
@reports_errors
def token(
    name: Annotated[str, typer.Argument(help="The client's name.")],
    expires_in: ExpiresOption = DEFAULT_TOKEN_DAYS,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make another token for a client (to replace one before it expires)."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        made = service.new_token(store, name, expires_in_days=expires_in)
    emit(_token_json(made), as_json=as_json, render=lambda: _show_token(made))


@app.command("list")
@reports_errors
def list_(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every client, its role, what it may do and its tokens (never the tokens themselves)."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        listed = service.list_clients(store)
    data = {"clients": [_client_json(c.client, c.tokens) for c in listed]}

    def render() -> None:
        table = Table("client", "role", "may", "tokens", "state")
        for entry in listed:
            c = entry.client
            may = c.source or c.subject_ref or ", ".join(c.measures) or ""
            now = datetime.now(UTC)
            tokens = ", ".join(f"{t.public_id} ({_state(t, now)})" for t in entry.tokens)
            table.add_row(c.name, c.role, may, tokens, "revoked" if c.revoked_at else "active")
        stdout.print(table)

    emit(data, as_json=as_json, render=render)


@app.command("revoke")
@reports_errors
def revoke(
    what: Annotated[
        str, typer.Argument(metavar="CLIENT|TOKEN_ID", help="A client's name or a token id.")
    ],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a client (and all its tokens) or one token. Servers stop accepting it within
    seconds."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        kind = service.revoke(store, what)
    emit(
        {"revoked": what, "kind": kind},
        as_json=as_json,
        render=lambda: stdout.print(f"{kind} {what}: revoked"),
    )


@app.command("sign-in-link")
@reports_errors
def sign_in_link(
    subject: Annotated[
        str, typer.Argument(metavar="SCHEME:IDENTIFIER", help="The subject, identified in person.")
    ],
    base_url: Annotated[
        str, typer.Option(help="The portal's sign-in page the link opens.")
    ] = "http://127.0.0.1:8000/sign-in",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A one-time sign-in link for a subject (15 minutes, used once), after checking who they
    are. The token travels after `#`, so it never reaches a server's access log."""
    settings = settings_for(db)
    hasher = load_secret(settings).identifier_hasher()
    with open_store(settings.database_url) as store:
        subject_id = subject_id_for(store, hasher, subject, datetime.now(UTC).date())
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        made = service.sign_in_link(store, subject_id)
    link = f"{base_url}#{made.token}"
    emit(
        {**_token_json(made), "link": link},
        as_json=as_json,
        render=lambda: stdout.print(
            f"one-time sign-in link, until {made.expires_at:%H:%M} UTC:\n  {link}", highlight=False
        ),
    )
