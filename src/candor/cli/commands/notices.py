"""`candor notices …`: delivering notices by email and webhook, and what is not delivered."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, spinner, stdout
from candor.errors import InvalidInput, NotFound
from candor.services import notices as service
from candor.services import subject_reads
from candor.services.rating import subject_id_for
from candor.services.secret import load_secret
from candor.store import open_store

app = typer.Typer(
    help="Notices to subjects and relying parties: delivery by email and webhook, retries, "
    "failures.",
    no_args_is_help=True,
)


@app.command("deliver")
@reports_errors
def deliver(
    limit: Annotated[
        int, typer.Option(help="The most delivery attempts this run makes.", min=1)
    ] = 1000,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the deliveries that are due, once; a failed attempt is retried by a later run,
    after its backoff. Run it every minute or so (cron, a systemd timer); runs may overlap."""
    settings = settings_for(db)
    load_secret(settings)  # a missing secret fails before the store is touched
    with (
        open_store(settings.database_url) as store,
        spinner("[bold]deliver notices[/] {task.completed} attempted") as progress,
    ):
        task = progress.add_task("deliver", total=None)

        def on_progress(done: int) -> None:
            progress.update(task, completed=done)

        report = service.deliver_due(store, settings, limit=limit, on_progress=on_progress)

    def render() -> None:
        stdout.print(
            f"{report.attempted:,} attempted: {report.delivered:,} delivered, "
            f"{report.retrying:,} to retry, {report.failed:,} failed ({report.seconds:.1f} s)"
        )
        if report.waiting:
            stdout.print(
                f"[yellow]{report.waiting:,} email deliveries wait: "
                f"{service.EMAIL_NOT_CONFIGURED}[/] (CANDOR_SMTP_HOST, CANDOR_NOTICE_FROM)"
            )
        if report.failed:
            stdout.print("see them with `candor notices list --failed`")

    emit(report.to_json(), as_json=as_json, render=render)


def _state(d: service.Delivery) -> str:
    tries = f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}"
    if d.status == "delivered" and d.delivered_at:
        return f"delivered {d.delivered_at:%Y-%m-%d %H:%M} ({tries})"
    if d.status == "pending" and d.next_attempt_at:
        return f"pending ({tries}); next {d.next_attempt_at:%Y-%m-%d %H:%M}"
    return f"{d.status} ({tries})"


@app.command("list")
@reports_errors
def list_(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries given up on.")] = False,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only deliveries not yet made.")
    ] = False,
    limit: Annotated[int, typer.Option(help="The most deliveries to list.", min=1)] = 100,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliveries of notices, newest first, with their state and last error. Addresses are
    masked."""
    if failed and pending:
        raise InvalidInput("give --failed or --pending, not both")
    status = "failed" if failed else "pending" if pending else None
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        deliveries = service.list_deliveries(store, status=status, limit=limit)
    data = {"deliveries": [d.to_json() for d in deliveries]}

    def render() -> None:
        if not deliveries:
            stdout.print(f"no {status + ' ' if status else ''}deliveries")
            return
        # Two lines a delivery rather than a table: addresses and errors stay whole in 80
        # columns.
        for d in deliveries:
            stdout.print(
                f"[bold]delivery {d.id}[/] of notice {d.notice_id} ({d.kind}) to {d.recipient}"
                f" by {d.channel}: {escape(d.address)}",
                highlight=False,
            )
            error = f"; last error: {escape(d.last_error)}" if d.last_error else ""
            stdout.print(f"    {_state(d)}{error}", highlight=False)

    emit(data, as_json=as_json, render=render)


@app.command("webhook-secret")
@reports_errors
def webhook_secret(
    url: Annotated[str, typer.Argument(help="The receiver's URL, exactly as notices use it.")],
    as_json: JsonOption = False,
) -> None:
    """Print the signing secret (whsec_…) of the webhook receiver at URL, for its operator:
    deliveries to it are signed per the Standard Webhooks spec with this secret. It is derived
    from the deployment secret; after `candor keys rotate`, print it again and hand the new one
    over (until then deliveries carry a signature under the old one too)."""
    secret = service.webhook_secret(settings_for(None), url)
    emit({"secret": secret}, as_json=as_json, render=lambda: stdout.print(secret, highlight=False))


@app.command("address")
@reports_errors
def address(
    channel: Annotated[str, typer.Argument(help="email or webhook.")],
    to: Annotated[str, typer.Argument(metavar="ADDRESS", help="An email address or an https URL.")],
    subject: Annotated[
        str | None,
        typer.Option(metavar="SCHEME:IDENTIFIER", help="Whose notices: this subject's."),
    ] = None,
    client: Annotated[
        str | None, typer.Option(help="Whose notices: this client's (a relying party's).")
    ] = None,
    remove: Annotated[bool, typer.Option(help="Stop sending there instead.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send every later notice to a subject or a client to this address too (by email or a
    signed webhook); every notice is stored whatever its addresses."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        subject_id = None
        if subject is not None:
            hasher = load_secret(settings).identifier_hasher()
            subject_id = subject_id_for(store, hasher, subject, date.today())
            if subject_id is None:
                raise NotFound("candor holds no records about this identifier")
        recipient = service.Recipient(subject_id=subject_id, client=client)
        changed = service.set_address(
            store, subject_reads.operator(), recipient, channel, to, remove=remove
        )
        now = service.addresses(store, subject_reads.operator(), recipient)
    emit(
        {"changed": changed, "addresses": now},
        as_json=as_json,
        render=lambda: stdout.print(
            ("changed" if changed else "unchanged") + f": {len(now)} address(es) for notices"
        ),
    )
