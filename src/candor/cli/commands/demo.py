"""`candor demo`: build, ingest and summarise a synthetic jurisdiction, then serve it."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from candor import synth
from candor.api import create_app
from candor.cli.commands.rating import render_reasons
from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr, stdout
from candor.errors import CandorError
from candor.services import ingestion
from candor.services.demo import (
    DEMO_CLIENTS,
    DEMO_MEASURE,
    DEMO_PURPOSE,
    DemoParameters,
    DemoSummary,
    build_demo,
)


@reports_errors
def demo(
    persons: Annotated[int, typer.Option(min=1, help="Persons in the jurisdiction.")] = 100_000,
    orgs: Annotated[int, typer.Option(min=1, help="Organisations in the jurisdiction.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed: the same seed gives the same files.")] = 0,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the generated record files and ground truth go.")
    ] = Path("demo"),
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards.")
    ] = True,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build a synthetic jurisdiction, ingest its sources' files, summarise it and serve it."""
    settings = settings_for(db)
    with Progress(
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  {task.fields[note]}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=as_json,
    ) as progress:
        generating = progress.add_task("generate jurisdiction", total=None, note="")
        tasks: dict[str, TaskID] = {}

        def on_generate(stage: str, done: int, total: int) -> None:
            progress.update(generating, completed=done, total=total, note=stage)

        def on_file(f: synth.SourceFile) -> None:
            progress.update(generating, completed=1, total=1, note="")
            tasks[f.source] = progress.add_task(
                f"ingest {f.path.name}", total=f.path.stat().st_size, note=""
            )

        def on_ingest(f: synth.SourceFile, p: ingestion.Progress) -> None:
            progress.update(
                tasks[f.source],
                completed=p.position,
                note=f"{p.accepted:,} accepted, {p.rejected:,} rejected, {p.duplicates:,} dup.",
            )

        rating: TaskID | None = None

        def on_stage(stage: str) -> None:
            nonlocal rating
            if rating is None:
                rating = progress.add_task("activate rulebooks and rate", total=None, note="")
            progress.update(rating, note=stage)

        summary = build_demo(
            settings,
            directory,
            DemoParameters(persons, orgs, seed),
            on_generate=on_generate,
            on_file=on_file,
            on_ingest=on_ingest,
            on_stage=on_stage,
        )
        for task in progress.task_ids:
            total = progress.tasks[task].total or 1
            progress.update(task, total=total, completed=total)

    # The demo ends by asking its own API, over HTTP, whether a measure applies to a listed
    # subject — what a relying party (an airline, a railway) does. Without --serve the server
    # runs on a free port just for that check.
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=host,
            port=port if serve else 0,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="candor-demo-server", daemon=True)
    thread.start()
    try:
        answer = _check_over_http(
            server, thread, host, summary.listed_identifier, summary.tokens["demo-airline"]
        )
        data = {**summary.to_json(), "check_over_http": answer}
        # The demo's own throwaway credentials, shown to its user so they can try the API.
        data["clients"] = {
            name: {"role": DEMO_CLIENTS[name].value, "token": token}
            for name, token in summary.tokens.items()
        }
        emit(data, as_json=as_json, render=lambda: _render(summary, answer))
        if serve:
            stderr.print(
                f"serving the demo on http://{host}:{port}  (GET /health, OpenAPI "
                "/openapi.json, docs /docs); Ctrl-C stops"
            )
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(10)


def _check_over_http(
    server: uvicorn.Server,
    thread: threading.Thread,
    host: str,
    identifier: str | None,
    token: str,
) -> dict[str, Any] | None:
    """POST /v1/checks to the demo's own server, as its sample airline; the request and its
    answer."""
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise CandorError(
                f"the demo's API server did not start on {host} (is the port in use? "
                "choose another with --port)"
            )
        time.sleep(0.05)
    if identifier is None:
        return None
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{host}:{port}/v1/checks"
    body = {"identifier": identifier, "measure": DEMO_MEASURE, "purpose": DEMO_PURPOSE}
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http on loopback, our own server)
        answer = json.loads(response.read())
    return {"url": url, "request": body, "status": response.status, "answer": answer}


def _render(summary: DemoSummary, check: dict[str, Any] | None) -> None:
    data = summary.to_json()
    head = Table(title="candor demo jurisdiction", show_header=False)
    head.add_row(
        "files", f"{summary.directory / 'files'}" + ("" if summary.generated else " (reused)")
    )
    for kind, n in sorted(summary.subjects.items()):
        head.add_row(f"subjects: {kind}", f"{n:,}")
    head.add_row("records generated", f"{summary.records_generated:,}")
    head.add_row("  of which damaged identifiers", f"{summary.damaged_identifiers:,}")
    ingested = summary.ingested
    for key in ("rows_read", "accepted", "rejected", "duplicates"):
        head.add_row(f"this run: {key.replace('_', ' ')}", f"{ingested[key]:,}")
    head.add_row("records in the store", f"{data['records']:,}")
    head.add_row(
        "seconds",
        f"generate {summary.seconds_generating:.1f}, ingest {summary.seconds_ingesting:.1f}",
    )
    stdout.print(head)

    by_type = Table("source", "record type", "records", title="records per source and type")
    for source, record_type, n in summary.records:
        by_type.add_row(source, record_type, f"{n:,}")
    stdout.print(by_type)

    if summary.reject_reasons:
        reasons = Table("field", "reason", "rows", title="commonest reasons for rejecting a row")
        for fld, reason, n in summary.reject_reasons:
            reasons.add_row(fld, reason, f"{n:,}")
        stdout.print(reasons)

    if summary.rating is not None:
        _render_rating(summary)
    if check is not None:
        stdout.print(
            f"check over HTTP: POST {check['url']} "
            f"{json.dumps(check['request'], ensure_ascii=False)}\n"
            f"  → {check['status']} {json.dumps(check['answer'], ensure_ascii=False)}"
        )
    clients = Table("client", "role", "token (send as `Authorization: Bearer …`)")
    clients.title = "the demo's API clients (tokens valid 30 days; new ones each run)"
    for name, token in summary.tokens.items():
        clients.add_row(name, DEMO_CLIENTS[name].value, token)
    stdout.print(clients)


def _render_rating(summary: DemoSummary) -> None:
    rating = summary.rating
    assert rating is not None
    stdout.print(
        f"rulebooks: {', '.join(summary.rulebooks)}; {rating.subjects:,} subjects rated in "
        f"{rating.seconds:.1f} s"
    )
    for key, by_grade in rating.grades.items():
        table = Table("grade", "subjects", title=f"grades under {key}")
        for grade, n in by_grade.items():
            table.add_row(grade, f"{n:,}")
        if n_out := rating.not_scored.get(key):
            table.add_row("no score (no consent)", f"{n_out:,}")
        stdout.print(table)
    lists = Table("list", "in force today", title="list sizes")
    for name, n in rating.listings.items():
        lists.add_row(name, f"{n:,}")
    stdout.print(lists)
    render_reasons(rating)
