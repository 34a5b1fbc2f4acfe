"""`candor rate` and `candor explain`: rate everyone; show why one subject is rated as it is."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Column, Table

from candor.cli.options import AsOfOption, DbOption, JsonOption, day, settings_for
from candor.cli.output import emit, reports_errors, spinner, stdout
from candor.errors import NotFound
from candor.services import subject_reads
from candor.services.explain import Explanation, RulebookExplained
from candor.services.rating import RateSummary, rate_all, subject_id_for
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.store import open_store


@reports_errors
def rate(as_of: AsOfOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Rate every subject on DuckDB under the rulebooks governing the date.

    Ratings and listings are stored when the date is today; for another date they are
    computed and summarised only (a past rating is reproducible, never rewritten).
    """
    settings = settings_for(db)
    when, today = day(as_of), date.today()
    with (
        open_store(settings.database_url) as store,
        spinner() as progress,
    ):
        task = progress.add_task("rating", total=None)
        summary = rate_all(
            store,
            load_registry(settings),
            as_of=when,
            today=today,
            on_progress=lambda stage: progress.update(task, description=stage),
            mirror_dir=settings.rating_mirror_dir,
        )
    emit(summary.to_json(), as_json=as_json, render=lambda: _render_summary(summary))


def _render_summary(summary: RateSummary) -> None:
    verb = "rated and stored" if summary.stored else "rated (not stored: not today)"
    stdout.print(
        f"{summary.subjects:,} subjects {verb} as of {summary.as_of} in {summary.seconds:.1f} s"
    )
    for key, by_grade in summary.grades.items():
        table = Table("grade", "subjects", title=key)
        for grade, n in by_grade.items():
            table.add_row(grade, f"{n:,}")
        if n_out := summary.not_scored.get(key):
            table.add_row("[dim]no score (no consent)[/]", f"{n_out:,}")
        stdout.print(table)
    if summary.listings:
        table = Table("list", f"in force on {summary.as_of}")
        for name, n in summary.listings.items():
            table.add_row(name, f"{n:,}")
        stdout.print(table)
    render_reasons(summary)


def render_reasons(summary: RateSummary) -> None:
    """The rules that count for most scored subjects, per rulebook."""
    for key, reasons in summary.reasons.items():
        table = Table("rule", "subjects", "points in all", title=f"commonest reasons under {key}")
        for reason in reasons:
            table.add_row(reason["rule"], f"{reason['subjects']:,}", f"{reason['points']:+,}")
        stdout.print(table)


@reports_errors
def explain_(
    subject: Annotated[
        str, typer.Argument(metavar="SCHEME:IDENTIFIER", help="e.g. cn_resident_id:…")
    ],
    as_of: AsOfOption = None,
    purpose: Annotated[
        str, typer.Option(help="Why you read this subject's data (logged in its file).")
    ] = "command line: candor explain",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a subject's score, grade and listings, and every record and rule behind them.

    The read is logged in the subject's file under `cli:<your user name>` with its purpose."""
    settings = settings_for(db)
    when, today = day(as_of), date.today()
    hasher = load_secret(settings).identifier_hasher()
    with open_store(settings.database_url) as store:
        subject_id = subject_id_for(store, hasher, subject, today)
        if subject_id is None:
            raise NotFound("candor holds no records about this identifier")
        found = subject_reads.explanation(
            store,
            load_registry(settings),
            subject_reads.operator(),
            subject_id,
            as_of=when,
            purpose=purpose,
        )
    emit(found.to_json(), as_json=as_json, render=lambda: _render_explanation(found))


def _record_text(record: dict[str, object] | None) -> str:
    if record is None:
        return "—"
    return (
        f"{record['record_type']} decided {record['decided_on']}\n"
        f"[dim]{record['source']} #{record['source_record_id']}[/]"
    )


def _render_explanation(found: Explanation) -> None:
    stdout.print(f"subject [bold]{found.subject}[/] ({found.kind}), as of {found.as_of}")
    if not found.rulebooks:
        stdout.print("no rulebook governs this date")
    for book in found.rulebooks:
        _render_rulebook(book)


def _render_rulebook(book: RulebookExplained) -> None:
    stdout.rule(
        f"{book.title} — {book.rulebook}@{book.version} (in force from {book.effective_from})"
    )
    if book.scored:
        if book.consented is False:
            stdout.print(
                "no score: there is no consent to scoring on record (the records are kept, "
                "and lists still apply)"
            )
        else:
            grade = book.grade or "—"
            if book.grades_verified is False:
                grade += " [yellow](grade bands unverified)[/]"
            stdout.print(
                f"score [bold]{book.score:g}[/] = base {book.base} "
                f"{_signed(sum(line.points for line in book.lines))}; grade [bold]{grade}[/]"
            )
            if book.lines:
                # Rule ids and points stay whole (a reader searches for them); the rest wraps.
                table = Table(
                    Column("rule", no_wrap=True),
                    "record",
                    "legal basis",
                    Column("points", no_wrap=True, justify="right"),
                    Column("counts until", no_wrap=True),
                )
                for line in book.lines:
                    table.add_row(
                        line.rule,
                        _record_text(line.record) if line.record else "[dim]cap on this rule[/]",
                        line.legal_basis or "—",
                        _signed(line.points),
                        str(line.until or "—"),
                    )
                stdout.print(table)
            for forced in book.overrides:
                stdout.print(
                    f"grade forced to [bold]{forced.grade}[/] by {forced.override}: "
                    f"{_record_text(forced.record)} ({forced.legal_basis or 'no legal basis given'}"
                    f"; until {forced.until or 'no end'})"
                )
    for entry in book.listings:
        state = "[bold red]in force[/]" if entry.in_force else "not in force"
        stdout.print(
            f"listed on [bold]{entry.title}[/] ({entry.list_name}) {entry.ref or ''}: {state}"
        )
        table = Table.grid(padding=(0, 2))
        table.add_row("record", _record_text(entry.record))
        table.add_row("legal basis", entry.legal_basis or "—")
        table.add_row("from", str(entry.starts_on))
        table.add_row("term", f"{entry.term or 'none'}; ends {entry.ends_on or 'never'}")
        if entry.extension:
            table.add_row("extension", entry.extension)
        if entry.removed_on:
            table.add_row("removed", f"{entry.removed_on} by {_record_text(entry.removed_by)}")
        table.add_row(
            "ways off",
            ", ".join([*entry.removal, "term end"] if entry.term else entry.removal) or "—",
        )
        table.add_row("measures", ", ".join(entry.measures) or "—")
        table.add_row("to object", entry.how_to_object or "—")
        stdout.print(table)


def _signed(points: float) -> str:
    return f"{points:+g}"
