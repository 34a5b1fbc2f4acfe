"""The benchmark suite still starts: `make bench` is not run by CI, so its imports are tested,
and the ledger area's measurements run end to end on a tiny log."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from bench import ledger
from bench.core import Context
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_suite_imports_and_lists_its_areas() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ingest" in result.stdout
    assert "ledger" in result.stdout


@pytest.mark.slow
def test_the_ledger_area_measures_a_tiny_log(tmp_path: Path) -> None:
    quiet = Console(file=io.StringIO())
    ctx = Context(Progress(console=quiet), quiet, work=tmp_path)
    rows = ledger._append(ctx, tmp_path, entries=3_000)  # checks the stored tree's root
    log = ledger.ledger_log(ctx, tmp_path, records=5_000, subjects=500)
    assert not isinstance(log, str)
    assert (log.leaves, log.head_size, log.built_now) == (5_000, 5_000, True)
    again = ledger.ledger_log(ctx, tmp_path, records=5_000, subjects=500)
    assert again == replace(log, built_now=False)  # reused, not rebuilt
    rows += ledger._proofs(ctx, log, proofs=20)  # every proof checked against the head
    rows += ledger._verify(ctx, log)  # fails unless verify finds no problem
    assert [r.value is not None for r in rows] == [True] * len(rows)
    assert not ctx.failed
