"""`candor serve`."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from candor.api import create_app
from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stderr
from candor.store import open_store


@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    settings = settings_for(db)
    open_store(settings.database_url).close()  # fail here, clearly, not inside the server
    url = f"http://{host}:{port}"
    emit(
        {"url": url, "openapi": f"{url}/openapi.json", "docs": f"{url}/docs"},
        as_json=as_json,
        render=lambda: stderr.print(f"candor API on {url}  (OpenAPI: /openapi.json, docs: /docs)"),
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
