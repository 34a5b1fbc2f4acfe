"""The demo jurisdiction: generate it, register its sources, ingest its files, summarise.

The generated files are kept with a manifest of the parameters that made them. Running the demo
again with the same parameters ingests the same files, which shows idempotency (everything is a
duplicate) instead of producing records that clash with yesterday's under the same ids.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from candor import synth
from candor.domain.access import Role
from candor.domain.pseudonyms import IdentifierHasher
from candor.services import clients
from candor.services.ingestion import IngestResult, Progress, ingest_file
from candor.services.lists import listed_subjects
from candor.services.rating import RateSummary, rate_all, subject_id_for
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.setup import init_deployment
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store, open_store
from candor.store import clients as client_rows
from candor.store import summary as counts

MANIFEST = "manifest.json"

# The demo's rulebooks take effect when their rules did, so that explanations of past dates
# work: the Supreme People's Court's Fa Shi [2017] No. 7 from 1 May 2017; Rongcheng's points
# system from 2014 (its measures were revised since; the sample follows the published table).
DEMO_RULEBOOKS = {
    "court-dishonest-debtors.yaml": date(2017, 5, 1),
    "rongcheng-personal.yaml": date(2014, 1, 1),
}
# The measure the demo checks over HTTP for a listed subject, as its sample relying party.
DEMO_MEASURE = "no_air_travel"
DEMO_PURPOSE = "demo: boarding check"
# The demo's API clients, so that its user can try every kind of request: name -> role.
DEMO_CLIENTS = {
    "demo-airline": Role.RELYING_PARTY,
    "demo-officer": Role.OFFICER,
    "demo-auditor": Role.AUDITOR,
}


@dataclass(frozen=True)
class DemoParameters:
    persons: int = 100_000
    organisations: int = 20_000
    seed: int = 0


@dataclass
class DemoSummary:
    """What the demo built and ingested."""

    directory: Path
    generated: bool  # False when the files of an earlier run were reused
    records_generated: int
    damaged_identifiers: int
    seconds_generating: float
    seconds_ingesting: float
    subjects: dict[str, int]
    records: list[tuple[str, str, int]]  # (source, record type, count) in the store
    ingested: dict[str, int]  # rows_read, accepted, rejected, duplicates of this run
    per_file: dict[str, dict[str, Any]] = field(default_factory=dict)
    reject_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    rulebooks: list[str] = field(default_factory=list)  # name@version activated
    rating: RateSummary | None = None
    listed_identifier: str | None = None  # SCHEME:ID for the sample check (listed, if any)
    # A fresh token for each demo client (a demo's throwaway credentials, shown to its user).
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        by_type: dict[str, int] = {}
        by_source: dict[str, int] = {}
        for source, record_type, n in self.records:
            by_type[record_type] = by_type.get(record_type, 0) + n
            by_source[source] = by_source.get(source, 0) + n
        return {
            "directory": str(self.directory),
            "generated": self.generated,
            "records_generated": self.records_generated,
            "damaged_identifiers": self.damaged_identifiers,
            "seconds": {
                "generating": round(self.seconds_generating, 2),
                "ingesting": round(self.seconds_ingesting, 2),
            },
            "subjects": self.subjects,
            "records": sum(by_source.values()),
            "records_by_source": by_source,
            "records_by_type": by_type,
            "ingested": self.ingested,
            "files": self.per_file,
            "top_reject_reasons": [
                {"field": f, "reason": r, "rows": n} for f, r, n in self.reject_reasons
            ],
            "rulebooks": self.rulebooks,
            "rating": self.rating.to_json() if self.rating else None,
            "clients": {name: {"role": DEMO_CLIENTS[name].value} for name in self.tokens},
        }


def _load_manifest(directory: Path, wanted: DemoParameters) -> synth.Jurisdiction | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if doc.get("parameters") != wanted.__dict__:
        return None
    files = tuple(
        synth.SourceFile(
            f["source"], f["description"], tuple(f["mandate"]), Path(f["path"]), f["records"]
        )
        for f in doc["files"]
    )
    if not all(f.path.exists() for f in files):
        return None
    j = doc["jurisdiction"]
    return synth.Jurisdiction(
        j["persons"], j["organisations"], j["records"], j["damaged"], files, Path(j["truth_dir"])
    )


def _save_manifest(directory: Path, parameters: DemoParameters, made: synth.Jurisdiction) -> None:
    doc = {
        "parameters": parameters.__dict__,
        "jurisdiction": {
            "persons": made.persons,
            "organisations": made.organisations,
            "records": made.records,
            "damaged": made.damaged,
            "truth_dir": str(made.truth_dir),
        },
        "files": [
            {
                "source": f.source,
                "description": f.description,
                "mandate": list(f.mandate),
                "path": str(f.path),
                "records": f.records,
            }
            for f in made.files
        ],
    }
    (directory / MANIFEST).write_text(json.dumps(doc, indent=2), encoding="utf-8")


def build_demo(
    settings: Settings,
    directory: Path,
    parameters: DemoParameters,
    *,
    today: date | None = None,
    on_generate: Callable[[str, int, int], None] | None = None,
    on_file: Callable[[synth.SourceFile], None] | None = None,
    on_ingest: Callable[[synth.SourceFile, Progress], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Build (or reuse) the demo files, ingest them into the store and summarise the result."""
    today = today or date.today()
    directory = directory.resolve()
    files_dir = directory / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    init_deployment(settings)
    registry = load_registry(settings)

    started = time.perf_counter()
    made = _load_manifest(directory, parameters)
    generated = made is None
    if made is None:
        made = synth.generate(
            files_dir,
            persons=parameters.persons,
            organisations=parameters.organisations,
            seed=parameters.seed,
            today=today,
            on_progress=on_generate,
        )
        _save_manifest(directory, parameters, made)
    generating = time.perf_counter() - started

    started = time.perf_counter()
    results: dict[str, IngestResult] = {}
    with open_store(settings.database_url) as store:
        for source_file in made.files:
            add_source(
                store, registry, source_file.source, source_file.mandate, source_file.description
            )
        for source_file in made.files:
            if on_file:
                on_file(source_file)

            def progress(p: Progress, f: synth.SourceFile = source_file) -> None:
                if on_ingest:
                    on_ingest(f, p)

            results[source_file.source] = ingest_file(
                store,
                settings,
                registry,
                source_file.path,
                source_file.source,
                today=today,
                on_progress=progress,
            )
        ingesting = time.perf_counter() - started
        if on_stage:
            on_stage("activate rulebooks and rate")
        activated = [
            activate(store, registry, SAMPLE_RULEBOOKS / name, effective=effective, today=today)
            for name, effective in DEMO_RULEBOOKS.items()
        ]
        rating = rate_all(
            store,
            registry,
            as_of=today,
            today=today,
            on_progress=on_stage or _quiet,
            mirror_dir=settings.rating_mirror_dir,
        )
        tokens = _demo_tokens(store)
        hasher = load_secret(settings).identifier_hasher()
        listed = _listed_identifier(store, hasher, made.truth_dir / "subjects.csv", today)
        ids = [r.ingestion_id for r in results.values()]
        with store.read() as conn:
            summary = DemoSummary(
                directory=directory,
                generated=generated,
                records_generated=made.records,
                damaged_identifiers=made.damaged,
                seconds_generating=generating,
                seconds_ingesting=ingesting,
                subjects=counts.subjects_by_kind(conn),
                records=counts.records_by_source_and_type(conn),
                ingested=counts.ingestion_totals(conn, ids),
                per_file={s: r.summary() for s, r in results.items()},
                reject_reasons=counts.reject_reasons(conn, ids),
                rulebooks=[f"{a.name}@{a.version}" for a in activated],
                rating=rating,
                listed_identifier=listed,
                tokens=tokens,
            )
    return summary


def _demo_tokens(store: Store) -> dict[str, str]:
    """A new token for each demo client, registering the client on the first run."""
    with store.read() as conn:
        known = {c.name for c in client_rows.list_clients(conn)}
    tokens = {}
    for name, role in DEMO_CLIENTS.items():
        if name in known:
            tokens[name] = clients.new_token(store, name, expires_in_days=30).token
            continue
        relying = role is Role.RELYING_PARTY
        tokens[name] = clients.add_client(
            store,
            name,
            role,
            description="the demo's sample client",
            measures=[DEMO_MEASURE] if relying else (),
            purposes=[DEMO_PURPOSE] if relying else (),
            expires_in_days=30,
        ).token.token
    return tokens


def _quiet(_stage: str) -> None:
    return None


def _listed_identifier(
    store: Store, hasher: IdentifierHasher, truth: Path, today: date
) -> str | None:
    """An identifier from the ground truth whose subject is listed today, if any, for the demo's
    sample check."""
    with truth.open(encoding="utf-8", newline="") as f:
        people = [
            f"{row['identifier_scheme']}:{row['identifier']}"
            for row in csv.DictReader(f)
            if row["identifier_scheme"] != "other"
        ]
    listed = listed_subjects(store, today)
    for reference in people:
        subject_id = subject_id_for(store, hasher, reference, today)
        if subject_id is not None and subject_id in listed:
            return reference
    # A jurisdiction too small to have anyone listed: the check then answers "does not apply".
    return people[0] if people else None
