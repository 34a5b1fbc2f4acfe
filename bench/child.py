"""One measured step in a fresh Python process: its result and its own peak memory.

The runner holds inputs, read-back rows and earlier results, so its memory says nothing about the
step; a child interpreter does. The step is a function ``module:name`` taking keyword arguments
(JSON values) and a ``report`` callback; it returns a JSON-able dict. The child writes progress
and the final answer as tagged JSON lines on stdout and reads its peak RSS when the step returns.

The peak is ``VmHWM`` from ``/proc/self/status``, the high-water mark of the child's own address
space. Not ``ru_maxrss``: Linux carries the parent's high-water mark over a fork and exec into
the child's ``ru_maxrss`` (and into the parent's ``RUSAGE_CHILDREN``), so a child started by a
runner that had grown to 1.4 GiB would report at least 1.4 GiB, whatever it used itself.

Run by the runner as ``python -m bench.child MODULE:FUNCTION JSON``.
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.core import REPO_ROOT

_PROGRESS = "@bench-progress "
_RESULT = "@bench-result "
Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ChildResult:
    result: dict[str, Any]  # what the step returned
    rss_before_mib: float  # after imports, before the step began
    peak_rss_mib: float  # the process's high-water mark when the step returned


class ChildFailed(RuntimeError):
    pass


def run_child(target: str, kwargs: dict[str, Any], on_report: Report | None = None) -> ChildResult:
    """Run ``target(report=…, **kwargs)`` in a fresh interpreter and wait for it."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errors:
        with subprocess.Popen(  # noqa: S603 — this interpreter, our own module and arguments
            [sys.executable, "-m", "bench.child", target, json.dumps(kwargs)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as child:
            assert child.stdout is not None
            final: dict[str, Any] | None = None
            for line in child.stdout:
                if line.startswith(_PROGRESS) and on_report is not None:
                    on_report(json.loads(line[len(_PROGRESS) :]))
                elif line.startswith(_RESULT):
                    final = json.loads(line[len(_RESULT) :])
            code = child.wait()
        if code != 0 or final is None:
            errors.seek(0)
            tail = errors.read()[-4000:]
            raise ChildFailed(f"{target} failed (exit {code}):\n{tail}")
    return ChildResult(
        final["result"], final["rss_before_kib"] / 1024, final["peak_rss_kib"] / 1024
    )


def run_child_shown(
    progress: Progress, area: str, label: str, target: str, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``run_child`` under a progress task ``area: label`` that shows the stages the child
    reports; its result, with its peak RSS in MiB."""
    task = progress.add_task(f"{area}: {label}", total=None)

    def shown(doc: dict[str, Any]) -> None:
        if "stage" in doc:
            progress.update(task, description=f"{area}: {label} — {doc['stage']}")

    done = run_child(target, kwargs, shown)
    progress.update(task, completed=1, total=1)
    return {**done.result, "peak_rss_mib": round(done.peak_rss_mib)}


def _status_kib(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status, in KiB (None without /proc)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kib() -> int:
    """The resident set now."""
    return _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_kib() -> int:
    """The resident set's high-water mark of this address space (see the module docstring)."""
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _main(argv: list[str]) -> None:
    target, arguments = argv
    module_name, function_name = target.split(":")
    step = getattr(importlib.import_module(module_name), function_name)

    def report(doc: dict[str, Any]) -> None:
        print(_PROGRESS + json.dumps(doc), flush=True)

    before = _rss_kib()
    result = step(report=report, **json.loads(arguments))
    doc = {"result": result, "rss_before_kib": before, "peak_rss_kib": _peak_kib()}
    print(_RESULT + json.dumps(doc), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
