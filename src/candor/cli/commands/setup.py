"""`candor init`."""

from __future__ import annotations

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.services.setup import init_deployment


@reports_errors
def init(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Create (or migrate) the store and create the deployment secret if there is none."""
    result = init_deployment(settings_for(db))
    data = {
        "store": result.store,
        "schema": result.schema,
        "schema_before": result.schema_before,
        "secret_file": str(result.secret_file) if result.secret_file else None,
        "secret_created": result.secret_created,
    }

    def render() -> None:
        verb = (
            "created"
            if result.schema_before is None
            else ("up to date" if result.schema_before == result.schema else "migrated")
        )
        stdout.print(f"store {result.store}: {verb} (schema {result.schema})")
        if result.secret_file is None:
            stdout.print("secret: taken from CANDOR_SECRET")
        elif result.secret_created:
            stdout.print(
                f"secret: created {result.secret_file} (mode 0600); keep it out of git, back it up"
            )
        else:
            stdout.print(f"secret: {result.secret_file} exists, kept")

    emit(data, as_json=as_json, render=render)
