"""`candor objections …`: file, review, decide and appeal objections; report overdue ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.domain.access import Principal, Role
from candor.errors import NotFound
from candor.services import objections as service
from candor.services import subject_reads
from candor.services.rating import subject_id_for
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.store import open_store

app = typer.Typer(
    help="Objections and appeals: filed for a subject, decided by reviewers with reasons.",
    no_args_is_help=True,
)

ReviewerOption = Annotated[
    str | None,
    typer.Option(
        "--reviewer",
        help="The reviewer deciding (default: cli:<your user name>). An appeal's reviewer must "
        "differ from the first.",
    ),
]
DecisionOption = Annotated[
    str, typer.Option(help="upheld, partly_upheld or rejected.", show_default=False)
]
ReasonsOption = Annotated[str, typer.Option(help="Why: the subject reads this.")]


def _reviewer(name: str | None) -> Principal:
    return Principal(name=name or subject_reads.operator().name, role=Role.REVIEWER)


def _show(row: dict[str, Any], as_json: bool) -> None:
    def render() -> None:
        stdout.print(
            f"objection {row['ref']} about a {row['about']}: {row['state']}"
            + (f", {row['decision']}" if row.get("decision") else "")
            + (f" (decide by {row['due_on']})" if row["state"] in ("filed", "in_review") else "")
        )

    emit(row, as_json=as_json, render=render)


@app.command("file")
@reports_errors
def file_(
    subject: Annotated[str, typer.Argument(metavar="SCHEME:IDENTIFIER")],
    about: Annotated[str, typer.Option(help="record, listing or rating.")],
    target: Annotated[
        str, typer.Option(help="A listing's reference, a record's id, or a rulebook's name.")
    ],
    statement: Annotated[str, typer.Option(help="What is wrong and why, as the subject says.")],
    attach: Annotated[
        list[Path] | None, typer.Option(help="A file to attach (repeat for more).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """File an objection for a subject (as an officer acting for it)."""
    settings = settings_for(db)
    attachments = [
        service.Attachment(p.name, "application/octet-stream", p.read_bytes()) for p in attach or []
    ]
    with open_store(settings.database_url) as store:
        hasher = load_secret(settings).identifier_hasher()
        subject_id = subject_id_for(store, hasher, subject, date.today())
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        row = service.file_objection(
            store,
            settings,
            subject_reads.operator(),
            subject_id,
            about=about,
            target=target,
            statement=statement,
            attachments=attachments,
            today=date.today(),
        )
    _show(row, as_json)


@app.command("review")
@reports_errors
def review(
    objection: Annotated[str, typer.Argument(help="The objection's reference (O…).")],
    reviewer: ReviewerOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a filed objection in review."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        row = service.take(store, _reviewer(reviewer), objection)
    _show(row, as_json)


@app.command("decide")
@reports_errors
def decide(
    objection: Annotated[str, typer.Argument(help="The objection's reference (O…).")],
    decision: DecisionOption,
    reasons: ReasonsOption,
    reviewer: ReviewerOption = None,
    appeal: Annotated[bool, typer.Option(help="Decide its appeal instead.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decide an objection (or, with --appeal, its appeal). Upheld in full, it corrects the
    record, re-rates the subject and tells the relying parties whose answer changed."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        act = service.decide_appeal if appeal else service.decide
        row = act(
            store,
            load_registry(settings),
            settings,
            _reviewer(reviewer),
            objection,
            decision=decision,
            reasons=reasons,
            today=date.today(),
        )
    _show(row, as_json)


@app.command("overdue")
@reports_errors
def overdue(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Objections past their review or appeal deadline; decisions whose appeal period ended
    become final."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        report = service.review_deadlines(store, settings, date.today())

    def render() -> None:
        for ref in report.finalised:
            stdout.print(f"objection {ref}: final (no appeal in time)")
        if not report.overdue:
            stdout.print("no objection is overdue")
        for o in report.overdue:
            stdout.print(
                f"[red]overdue[/] {o['objection']} ({o['state']}): due {o['due_on']}, "
                f"{o['days_late']} day(s) late, reviewer {o['reviewer'] or 'none yet'}"
            )

    emit(report.to_json(), as_json=as_json, render=render)
