"""The HTML documents candor renders for people — the subject file, the rulebook diff report —
from Jinja2 templates shipped in ``candor.resources/templates``: every value escaped, and an
undefined name an error rather than an empty space in a document someone relies on."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2


@cache
def template(name: str) -> jinja2.Template:
    """The template ``templates/<name>``, loaded once per process."""
    text = (
        resources.files("candor.resources")
        .joinpath(f"templates/{name}")
        .read_text(encoding="utf-8")
    )
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)
