"""Every setting candor reads, declared once with its environment variable and help text.

A command-line flag (``--db``) wins over the environment, which wins over the default.
``tests/test_docs.py`` fails when a setting here is missing from the README.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from candor.errors import InvalidInput


def _meta(env: str, text: str) -> dict[str, str]:
    return {"env": env, "help": text}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one candor process."""

    database_url: str = field(
        default="sqlite:///candor.db",
        metadata=_meta(
            "CANDOR_DATABASE_URL",
            "The store: sqlite:///path/candor.db (the embedded default) or postgresql://user@host/db.",
        ),
    )
    secret_file: Path = field(
        default=Path("candor.secret"),
        metadata=_meta(
            "CANDOR_SECRET_FILE",
            "File holding the deployment secret (identifier hashing, signing). `candor init` "
            "creates it with mode 0600. Never commit it.",
        ),
    )
    secret: str | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_SECRET",
            "The deployment secret itself (the file's contents); when set, the file is not read.",
        ),
    )
    registry_file: Path | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_REGISTRY_FILE",
            "The record-type registry (YAML). Default: the sample registry shipped with candor.",
        ),
    )
    ingest_batch_rows: int = field(
        default=50_000,
        metadata=_meta(
            "CANDOR_INGEST_BATCH_ROWS",
            "Rows validated and committed together when ingesting a file; each batch is one "
            "durable transaction.",
        ),
    )
    api_max_batch: int = field(
        default=10_000,
        metadata=_meta(
            "CANDOR_API_MAX_BATCH",
            "The most records one API ingest request may carry (larger requests get 413).",
        ),
    )
    rating_mirror_dir: Path | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_RATING_MIRROR_DIR",
            "Where batch rating keeps its append-only columnar copy of the records, so that a run "
            "reads only records added since the last. Default: beside a SQLite store "
            "(candor.db.mirror/); with PostgreSQL, none unless set (records are then read from "
            "the store each run). Deleting it is always safe.",
        ),
    )
    api_sqlite_cache_mib: int = field(
        default=8,
        metadata=_meta(
            "CANDOR_API_SQLITE_CACHE_MIB",
            "SQLite page cache of each of the API server's connections to the store, MiB. Other "
            "commands keep 64 MiB (room for the indexes a bulk ingestion maintains); a server "
            "that ran with that much would hold up to 64 MiB more per connection as its check "
            "log grew.",
        ),
    )
    objection_review_days: int = field(
        default=30,
        metadata=_meta(
            "CANDOR_OBJECTION_REVIEW_DAYS",
            "Days a reviewer has to decide an objection (and an appeal) after it is filed, "
            "where neither its list's review_within nor its rulebook's (per record type) says; "
            "later ones are reported overdue (FCRA's reinvestigation period is 30 days).",
        ),
    )
    appeal_days: int = field(
        default=30,
        metadata=_meta(
            "CANDOR_APPEAL_DAYS",
            "Days after a decision on an objection within which the subject may appeal it; "
            "after that the decision is final.",
        ),
    )
    notify_lookback_days: int = field(
        default=180,
        metadata=_meta(
            "CANDOR_NOTIFY_LOOKBACK_DAYS",
            "When an upheld objection changes a subject's listings, every relying party that "
            "checked the subject in this many days before is told its earlier answer changed.",
        ),
    )
    rerate_inline_max: int = field(
        default=500,
        metadata=_meta(
            "CANDOR_RERATE_INLINE_MAX",
            "After an API ingest request, re-rate at most this many of its subjects in the store "
            "before answering; the others are re-rated at their next check or `candor rate` "
            "(a check always re-rates a subject whose records changed).",
        ),
    )
    rate_per_minute: int = field(
        default=300_000,
        metadata=_meta(
            "CANDOR_RATE_PER_MINUTE",
            "Requests a minute one API client may make, unless its registration says otherwise "
            "(over it: 429 with Retry-After).",
        ),
    )
    public_rate_per_minute: int = field(
        default=600,
        metadata=_meta(
            "CANDOR_PUBLIC_RATE_PER_MINUTE",
            "Requests a minute one address may make without credentials (published rulebooks "
            "and lists, health).",
        ),
    )
    bulk_per_day: int = field(
        default=5_000_000,
        metadata=_meta(
            "CANDOR_BULK_PER_DAY",
            "Identifiers one relying party may check in bulk a day (UTC), unless its "
            "registration says otherwise.",
        ),
    )
    rate_limit_storage: str = field(
        default="memory://",
        metadata=_meta(
            "CANDOR_RATE_LIMIT_STORAGE",
            "Where request counts are kept: memory:// (one server) or a store shared by several "
            "servers, e.g. redis://host:6379 (needs the `redis` package).",
        ),
    )
    log_level: str = field(
        default="INFO",
        metadata=_meta(
            "CANDOR_LOG_LEVEL",
            "Logging level (DEBUG, INFO, WARNING, ERROR). Logs never carry identifiers or names.",
        ),
    )
    smtp_host: str | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_SMTP_HOST",
            "The SMTP server notices are emailed through. Unset: no email is sent, and email "
            "deliveries wait, pending and listed, until it is set (with CANDOR_NOTICE_FROM).",
        ),
    )
    smtp_port: int = field(
        default=587,
        metadata=_meta("CANDOR_SMTP_PORT", "The SMTP server's port (587: submission)."),
    )
    smtp_starttls: bool = field(
        default=True,
        metadata=_meta(
            "CANDOR_SMTP_STARTTLS",
            "Upgrade the SMTP connection with STARTTLS, verifying the server's certificate, "
            "before sending (true or false).",
        ),
    )
    smtp_user: str | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_SMTP_USER", "User name to log in to the SMTP server with; unset: no login."
        ),
    )
    smtp_password: str | None = field(
        default=None,
        repr=False,
        metadata=_meta("CANDOR_SMTP_PASSWORD", "Password for CANDOR_SMTP_USER."),
    )
    notice_from: str | None = field(
        default=None,
        metadata=_meta(
            "CANDOR_NOTICE_FROM",
            "The From address of emailed notices, e.g. notices@credit.example.gov.",
        ),
    )
    webhook_timeout_s: float = field(
        default=10.0,
        metadata=_meta(
            "CANDOR_WEBHOOK_TIMEOUT_S",
            "Seconds a webhook receiver has to connect and answer before the attempt counts as "
            "failed.",
        ),
    )
    delivery_max_attempts: int = field(
        default=8,
        metadata=_meta(
            "CANDOR_DELIVERY_MAX_ATTEMPTS",
            "Attempts to deliver a notice by email or webhook before the delivery is marked "
            "failed (kept, and listed by `candor notices list --failed`).",
        ),
    )
    delivery_backoff_s: float = field(
        default=30.0,
        metadata=_meta(
            "CANDOR_DELIVERY_BACKOFF_S",
            "Seconds before the first retry of a failed delivery; each further retry waits twice "
            "as long (at most 6 hours), give or take 20%.",
        ),
    )

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from overrides (flags), then the environment, then defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
            elif (raw := environ.get(f.metadata["env"])) not in (None, ""):
                values[f.name] = _parse(f, raw)
        return cls(**values)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{f.metadata['env']} must be a whole number") from None
        if value <= 0:
            raise InvalidInput(f"{f.metadata['env']} must be greater than zero")
        return value
    if kind == "float":
        try:
            number = float(raw)
        except ValueError:
            raise InvalidInput(f"{f.metadata['env']} must be a number") from None
        if not number > 0 or number == float("inf"):
            raise InvalidInput(f"{f.metadata['env']} must be greater than zero")
        return number
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{f.metadata['env']} must be true or false")
    if "Path" in kind:
        return Path(raw)
    return raw


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, in declaration order."""
    out = []
    for f in dataclasses.fields(Settings):
        default = "" if f.default is None else str(f.default)
        out.append((f.metadata["env"], default, f.metadata["help"]))
    return out
