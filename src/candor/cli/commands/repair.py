"""`candor repair …`: apply for early removal from a list, review and decide applications,
report overdue ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.domain.access import Principal, Role
from candor.errors import NotFound
from candor.services import repair as service
from candor.services import subject_reads
from candor.services.rating import subject_id_for
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.store import open_store

app = typer.Typer(
    help="Credit repair: early removal from a list after its minimum publicity period, applied "
    "for with proof of performance and decided by a reviewer with reasons.",
    no_args_is_help=True,
)

ReviewerOption = Annotated[
    str | None,
    typer.Option("--reviewer", help="The reviewer deciding (default: cli:<your user name>)."),
]


def _reviewer(name: str | None) -> Principal:
    return Principal(name=name or subject_reads.operator().name, role=Role.REVIEWER)


def _show(row: dict[str, Any], as_json: bool) -> None:
    def render() -> None:
        stdout.print(
            f"repair {row['ref']} of listing {row['listing']} ({row['list_name']}): {row['state']}"
            + (f" (decide by {row['due_on']})" if row["state"] in ("filed", "in_review") else "")
        )
        if row.get("reasons"):
            stdout.print(f"reasons: {row['reasons']}")

    emit(row, as_json=as_json, render=render)


@app.command("apply")
@reports_errors
def apply(
    subject: Annotated[str, typer.Argument(metavar="SCHEME:IDENTIFIER")],
    listing: Annotated[str, typer.Option(help="The listing's reference, as the file shows it.")],
    statement: Annotated[
        str, typer.Option(help="How the obligation was met, as the subject says.")
    ] = "",
    attach: Annotated[
        list[Path] | None, typer.Option(help="Proof of performance to attach (repeat for more).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply for a subject's early removal from a list (as an officer acting for it). Give a
    statement, attachments, or both."""
    settings = settings_for(db)
    attachments = [
        service.Attachment(p.name, "application/octet-stream", p.read_bytes()) for p in attach or []
    ]
    with open_store(settings.database_url) as store:
        hasher = load_secret(settings).identifier_hasher()
        subject_id = subject_id_for(store, hasher, subject, date.today())
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        row = service.apply(
            store,
            settings,
            subject_reads.operator(),
            subject_id,
            listing=listing,
            statement=statement,
            attachments=attachments,
            today=date.today(),
        )
    _show(row, as_json)


@app.command("review")
@reports_errors
def review(
    repair: Annotated[str, typer.Argument(help="The application's reference (R…).")],
    reviewer: ReviewerOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a filed application in review."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        row = service.take(store, _reviewer(reviewer), repair)
    _show(row, as_json)


@app.command("decide")
@reports_errors
def decide(
    repair: Annotated[str, typer.Argument(help="The application's reference (R…).")],
    decision: Annotated[str, typer.Option(help="approved or refused.", show_default=False)],
    reasons: Annotated[str, typer.Option(help="Why: the subject reads this.")],
    reviewer: ReviewerOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve or refuse an application. Approved, it records the removal and re-rates the
    subject: the listing ends today."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        row = service.decide(
            store,
            load_registry(settings),
            _reviewer(reviewer),
            repair,
            decision=decision,
            reasons=reasons,
            today=date.today(),
        )
    _show(row, as_json)


@app.command("overdue")
@reports_errors
def overdue(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Applications past their review deadline."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        late = service.overdue(store, date.today())

    def render() -> None:
        if not late:
            stdout.print("no repair application is overdue")
        for r in late:
            stdout.print(
                f"[red]overdue[/] {r['repair']} ({r['state']}): due {r['due_on']}, "
                f"{r['days_late']} day(s) late, reviewer {r['reviewer'] or 'none yet'}"
            )

    emit({"overdue": late}, as_json=as_json, render=render)
