"""Rulebooks: check, activate and list versions; find those that govern a date."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from candor.domain.ledger import RULEBOOK_ACTIVATED
from candor.domain.registry import Registry
from candor.domain.rulebook import ActiveRulebook, Rulebook, parse_rulebook
from candor.engine.compiler import ALL_SUBJECTS, ONE_SUBJECT, Scope, compile_plan
from candor.engine.plan import Plan
from candor.errors import Conflict, InvalidInput, NotFound, RulebookError
from candor.services.rulebook_lint import errors, lint_text
from candor.store import ledger as ledger_rows
from candor.store import rulebooks as stored_rulebooks
from candor.store.database import Store
from candor.store.tables import rulebooks

SAMPLE_RULEBOOKS = Path(__file__).resolve().parent.parent / "resources" / "rulebooks"


def read_rulebook(path: Path, registry: Registry) -> tuple[Rulebook, str]:
    """Parse and check a rulebook file — the schema, the registry's references, every
    condition and every lint check (``services.rulebook_lint``). Returns the rulebook and its
    text; warnings do not stop it.

    Raises:
        RulebookError: naming the file and, for each error, its path inside it and why.
    """
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read the rulebook {path}: {e}") from None
    rulebook, findings = lint_text(content, str(path), registry)
    if refused := errors(findings):
        problems = [f"{f.path}: {f.why} [{f.code}]" for f in refused]
        raise RulebookError(f"{path}: " + "; ".join(problems), problems=problems)
    assert rulebook is not None  # a file that does not parse is an error finding
    return rulebook, content


@dataclass(frozen=True)
class Activation:
    id: int
    name: str
    version: str
    effective_from: date
    digest: str
    created: bool


# Who activates a version when no person does (the demo, tests, benchmarks).
SYSTEM = "candor"


def activate(
    store: Store,
    registry: Registry,
    path: Path,
    *,
    effective: date | None,
    today: date,
    by: str = SYSTEM,
) -> Activation:
    """Store a rulebook version and the date it takes effect.

    Activating the same version with the same content again changes nothing. A later version
    of a rulebook may not take effect before today: no rule applies to the past retroactively.
    Only a rulebook's first version may name an earlier date (the date its law took effect).
    ``by`` is stored as who activated it, with the file, its digest, the time and the date.

    Raises:
        RulebookError: the file is not a valid rulebook.
        Conflict: the version was stored with other content, or would take effect in the past.
    """
    rulebook, content = read_rulebook(path, registry)
    digest = hashlib.sha256(content.encode()).hexdigest()
    effective_from = effective or today
    with store.write() as conn:
        existing = stored_rulebooks.find(conn, rulebook.rulebook, rulebook.version)
        if existing is not None:
            if existing.digest != digest:
                raise Conflict(
                    f"{rulebook.key} was activated before with different content; publish the "
                    "change as a new version"
                )
            return Activation(
                existing.id, existing.name, existing.version, existing.effective_from, digest, False
            )
        earlier = [s for s in stored_rulebooks.every(conn) if s.name == rulebook.rulebook]
        if earlier and effective_from < today:
            raise Conflict(
                f"{rulebook.key} would take effect on {effective_from}, in the past; a new "
                "version of a rulebook takes effect today or later"
            )
        now = datetime.now(UTC)
        rulebook_id = stored_rulebooks.add(
            conn,
            name=rulebook.rulebook,
            version=rulebook.version,
            title=rulebook.title,
            content=content,
            digest=digest,
            effective_from=effective_from,
            now=now,
            by=by[:64],
        )
        ledger_rows.append_objects(
            conn, "rulebooks", rulebooks.c.id == rulebook_id, lambda _: RULEBOOK_ACTIVATED, now
        )
    return Activation(
        rulebook_id, rulebook.rulebook, rulebook.version, effective_from, digest, True
    )


@lru_cache(maxsize=64)
def _parsed(rulebook_id: int, digest: str, content: str) -> Rulebook:
    return parse_rulebook(content, origin=f"stored rulebook {rulebook_id}")


def governing(store: Store, as_of: date) -> list[ActiveRulebook]:
    """The rulebook versions that govern ``as_of``, one per rulebook name."""
    with store.read() as conn:
        versions = stored_rulebooks.governing(conn, as_of)
    return [
        ActiveRulebook(
            id=v.id, effective_from=v.effective_from, rulebook=_parsed(v.id, v.digest, v.content)
        )
        for v in versions
    ]


def find_version(store: Store, name: str, version: str) -> stored_rulebooks.StoredRulebook:
    """One stored version.

    Raises:
        NotFound: no such version was ever activated.
    """
    with store.read() as conn:
        found = stored_rulebooks.find(conn, name, version)
    if found is None:
        raise NotFound(f"no stored rulebook {name}@{version}")
    return found


def every_version(store: Store) -> list[stored_rulebooks.StoredRulebook]:
    with store.read() as conn:
        return stored_rulebooks.every(conn)


# Keyed by object identity: `governing` hands out one parsed Rulebook per stored version and
# content digest, and each entry keeps its rulebooks and registry alive so that no id() in a
# key can be reused by another object (another store's rulebook 1, say) while it exists.
_PlanKey = tuple[tuple[tuple[int, int], ...], int, bool]
_PLANS: dict[_PlanKey, tuple[list[Rulebook], Registry, Plan]] = {}


def plan_for(rulebooks: list[ActiveRulebook], registry: Registry, *, one_subject: bool) -> Plan:
    """The compiled plan for these rulebook versions (compiled once per process)."""
    key = (tuple((a.id, id(a.rulebook)) for a in rulebooks), id(registry), one_subject)
    cached = _PLANS.get(key)
    if cached is None:
        scope: Scope = ONE_SUBJECT if one_subject else ALL_SUBJECTS
        plan = compile_plan(rulebooks, registry, scope)
        cached = ([a.rulebook for a in rulebooks], registry, plan)
        if len(_PLANS) >= 256:
            _PLANS.clear()
        _PLANS[key] = cached
    return cached[2]


def json_schema() -> dict[str, object]:
    """The JSON Schema of rulebook files (for editors and for authorities' own checks)."""
    schema = Rulebook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://candor.example/schemas/rulebook.json"
    return schema


def in_force(store: Store, today: date) -> set[int]:
    """Ids of the stored versions that govern ``today``."""
    return {a.id for a in governing(store, today)}
