"""The documentation stays true: every setting, command and record type is documented as it is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import typer
from pydantic import BaseModel

from candor.cli import app
from candor.domain.rulebook import Rulebook
from candor.services.registry import load_registry
from candor.settings import Settings, describe

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RECORD_FILES = (ROOT / "docs" / "record-files.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block
    assert "make test" in first_block


def test_every_setting_is_in_the_readme_table() -> None:
    for env, _default, _help in describe():
        assert re.search(rf"^\| `{env}` \|", README, re.MULTILINE), f"{env} is not documented"


def _commands(group: Any, prefix: str = "candor") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group of subcommands
            names += _commands(command, f"{prefix} {name}")
        else:
            names.append(f"{prefix} {name}")
    return names


def test_every_command_is_in_the_readme_tour() -> None:
    commands = _commands(typer.main.get_command(app))
    assert "candor ingest" in commands
    for command in commands:
        assert command + " " in README or command + "\n" in README, f"{command} not in README"


def test_the_record_type_table_matches_the_registry() -> None:
    registry = load_registry(Settings.load(environ={}))
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^\| `([a-z_]+\.[a-z_.]+)` \| ([a-z, ]+) \| (.*) \|$", RECORD_FILES, re.M
        )
    }
    assert set(rows) == set(registry.record_types)
    for name, spec in registry.record_types.items():
        kinds, attributes = rows[name]
        assert kinds == ", ".join(k.value for k in spec.subject_kinds), name
        documented = re.findall(r"(\*\*)?([a-z_]+)(\*\*)?(?: \([^)]*\))?(?:, |$)", attributes)
        found = {a: bool(bold) for bold, a, _ in documented if a}
        if not spec.attributes:
            assert attributes == "—", name
            continue
        assert found == {a: s.required for a, s in spec.attributes.items()}, name


RULEBOOKS = (ROOT / "docs" / "rulebooks.md").read_text(encoding="utf-8")


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold (in tuples, mappings, optionals), each once."""
    found: list[type[BaseModel]] = []
    pending = [model]
    while pending:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        for field in current.model_fields.values():
            types = [field.annotation]
            while types:
                kind = types.pop()
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    pending.append(kind)
                types += get_args(kind)
    return found


def _section(doc: str, model: str) -> str:
    """The text under the heading that names ``model`` as ``(`Model`)``, up to the next heading."""
    match = re.search(rf"^#+ .*\(`{model}`\)\n(.*?)(?=^#|\Z)", doc, re.M | re.S)
    assert match, f"docs/rulebooks.md has no section headed (`{model}`)"
    return match.group(1)


def test_every_rulebook_field_is_in_the_rulebook_reference() -> None:
    models = _models(Rulebook)
    assert {m.__name__ for m in models} >= {"Rule", "PointsFrom", "ListSpec", "Period", "Band"}
    for model in models:
        rows = re.findall(r"^\| `([a-z_]+)` \|", _section(RULEBOOKS, model.__name__), re.M)
        assert sorted(rows) == sorted(model.model_fields), model.__name__
