"""Facts about the machine and software a run measured, stored with its results."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT

PACKAGES = ("polars", "pyarrow", "sqlalchemy", "psycopg", "orjson")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    return None


def postgresql_version(url: str | None) -> str | None:
    if not url:
        return None
    from bench.pg import server_version  # noqa: PLC0415 — only when a server is named

    try:
        return server_version(url)
    except Exception as e:  # a fact to report, not a reason to stop
        return f"unreachable ({type(e).__name__})"


def git_commit() -> str | None:
    """The commit measured, and whether candor's code (src/) differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 — git from PATH, no input
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}{' with uncommitted changes in src/' if dirty else ''}"


def facts(pg_url: str | None) -> dict[str, Any]:
    """The machine, the interpreter and the engines' versions, and when."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgresql_version(pg_url),
        "packages": {name: _version(name) for name in PACKAGES},
        "candor_commit": git_commit(),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def hardware(machine: dict[str, Any]) -> str:
    """The processor and memory a run had."""
    return f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB RAM"


def one_line(machine: dict[str, Any]) -> str:
    """The facts a reader needs to weigh the numbers, in one sentence."""
    pg = machine.get("postgresql")
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB RAM; "
        f"Python {machine['python']}, SQLite {machine['sqlite']}"
        + (f", PostgreSQL {pg}" if pg else "")
        + f"; {machine['date'][:10]}"
        + (f", candor {machine['candor_commit']}" if machine.get("candor_commit") else "")
    )
