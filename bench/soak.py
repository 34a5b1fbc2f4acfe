"""``python -m bench.soak [--minutes 10] [--fraction 0.7]``: ``POST /v1/checks`` at a steady rate.

``make soak`` runs it for ten minutes; neither ``make test`` nor CI does.

The store, the clients and the server are the checks benchmark's (``bench.checks.prepare`` and
``Server``): the demo jurisdiction in SQLite under ``bench/work/checks``, built or reused, its
check log emptied; the API in a child process, one uvicorn worker.

1. Capacity: ``POST /v1/checks`` closed loop on 16 keep-alive connections for 10 s, after 2 s of
   warm-up, by the checks benchmark's Python asyncio loader (``python -m bench.checks load``) —
   not by ``wrk`` even where it is installed: the soak's own load comes from Python, and on a
   small machine client and server share the cores, so the capacity is measured with a client
   that costs what the soak's costs (measured with wrk, 70% of it overran the server here).
2. The soak: ``--fraction`` (0.7) of that rate for ``--minutes`` (10), open loop, from a Python
   asyncio pacer in a process of its own (``python -m bench.soak pace …``). Request *i* is due at
   ``start + i / rate`` whatever happened to the others; the next free of ``--connections`` (16)
   keep-alive connections sends it then, or at once if it is already late. Its latency runs from
   when it was due (or was sent, if a timer let it go early) to the last byte of its answer, so
   time spent waiting for a free connection behind a slow answer counts: coordinated omission is
   not hidden. Each request has 10 s; what has not been sent 10 s after the schedule ends is
   counted unsent. One request before the schedule starts, not counted, lets the server verify
   the token once (argon2id) instead of once per connection. ``--rate`` gives the rate instead.
3. Memory: the server process's resident set (``VmRSS`` in ``/proc/<pid>/status``; also its
   anonymous and file-backed parts) every ``--sample-seconds`` (2) during the soak.

Errors are non-2xx answers, socket errors and time-outs, and unsent requests. The first
``--warm-up`` seconds (60) are the warm-up: their requests count like any other, but memory is
judged from the end of the warm-up on.

The verdict passes when all of these hold, and ``python -m bench.soak`` exits 1 otherwise:

- no errors;
- memory flat: the server's RSS at the end is less than 10% above its RSS at the end of the
  warm-up, AND the least-squares slope of its RSS over the last half of the run is below
  1 MiB/min (a leak of 12 bytes a request at 1,400 requests/s would be 1 MiB/min).

What RSS counts: it includes SQLite's page caches, one a connection. A connection keeps the
pages it has read until its cache is full and, in WAL mode, drops them only when another
connection has written; the check-log writer is the one connection writing here, so its cache
keeps the pages of the growing check log (about 110 bytes of RSS a check) until it is full. The
API server gives each connection 8 MiB of cache (``CANDOR_API_SQLITE_CACHE_MIB``; the commands
that ingest keep 64 MiB, for index maintenance), full after some 75,000 checks; at 745 checks/s
RSS rose 2.7 MiB in the first minute and then stayed flat. When the server had 64 MiB too,
the cache was still filling after ten minutes at 328 checks/s and the verdict failed on it
(2.1 MiB/min). A run too short for the cache to fill — one whose rate is so low that 75,000
checks take more than its first half — reads as growth: the verdict does not guess which growth
is a cache. Each minute's row also has the server's CPU time a check, the WAL's size and
the machine's load average, to tell a server that slows down from one that gets less CPU.

It writes ``bench/soak.json`` (settings, capacity, target and achieved rates, errors, latency,
send lag and RSS per minute, every RSS sample, the verdict) and prints a table; the machine and
the commit go with it, as with ``bench/results.json``. The achieved rate counts 2xx answers that
came while the schedule ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bench.checks import (
    CONNECTIONS,
    SECONDS,
    WARM_UP_SECONDS,
    Load,
    Server,
    _check_bodies,
    _python_load,
    exchange,
    post_request,
    prepare,
)
from bench.core import BENCH_DIR, REPO_ROOT, Context
from bench.machine import facts

PATH = "/v1/checks"
RESULTS = BENCH_DIR / "soak.json"
MINUTES = 10.0
FRACTION = 0.7
WARM_UP = 60.0  # seconds of the soak before its memory is judged
SAMPLE_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0  # seconds, as the checks benchmark gives wrk
MAX_GROWTH = 0.10  # RSS at the end over RSS at the end of the warm-up, less one
MAX_SLOPE_MIB_PER_MIN = 1.0  # over the last half of the run
TICK = "@soak-tick "
RESULT = "@soak-result "
_MIB = 1 << 20
_SERIES = ("anon", "file", "cpu", "wal", "load")


# --- the pacer (its own process) -----------------------------------------------------------------


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pacer:
    """Open loop: request *i* is due at ``start + i / rate``; see the module's docstring.

    The event loop is asyncio's own, as in the loader that measured the capacity.
    """

    def __init__(
        self, host: str, port: int, bodies: list[bytes], rate: float, seconds: float, token: str
    ) -> None:
        self.host, self.port, self.bodies, self.token = host, port, bodies, token
        self.rate, self.seconds = rate, seconds
        self.total = math.ceil(rate * seconds)
        nan = array("d", [math.nan])
        self.latency = nan * self.total  # s, due (or sent, if a timer let it go early) → answered
        self.lag = nan * self.total  # s, due → sent (negative: early); NaN: never sent
        self.answered = nan * self.total  # s, start → answered
        self.timer_late = nan * self.total  # s, due → sent, for those it slept for
        self.ok = bytearray(self.total)  # 1: a 2xx answer
        self.status_errors = self.socket_errors = 0
        self.next_index = 0
        self.start = self.stop_sending = 0.0

    async def run(self, connections: int) -> dict[str, Any]:
        opened = await asyncio.gather(*(self._connect() for _ in range(connections)))
        # One request first, not counted: the server verifies a token (argon2id, 64 MiB) once
        # and then caches it; sixteen first requests at once would verify it sixteen times.
        request = post_request(self.host, PATH, self.token, self.bodies[0])
        async with asyncio.timeout(60):
            await exchange(*opened[0], request)
        self.start = time.monotonic() + 0.2
        self.stop_sending = self.start + self.seconds + REQUEST_TIMEOUT
        print(TICK + json.dumps({"start_monotonic": self.start}), flush=True)
        ticker = asyncio.create_task(self._ticks())
        await asyncio.gather(*(self._worker(c) for c in opened))
        ticker.cancel()
        return _summary(self)

    async def _connect(self) -> Connection:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await asyncio.open_connection(self.host, self.port)

    async def _worker(self, conn: Connection | None) -> None:
        while self.next_index < self.total:
            i = self.next_index  # the next one due, whichever connection is free
            self.next_index += 1
            due = self.start + i / self.rate
            slept = (wait := due - time.monotonic()) > 0
            if slept:
                await asyncio.sleep(wait)
            sent = time.monotonic()
            if slept:
                self.timer_late[i] = sent - due
            if sent > self.stop_sending:
                break  # this one and every later one: unsent
            self.lag[i] = sent - due
            body = self.bodies[i % len(self.bodies)]
            request = post_request(self.host, PATH, self.token, body)
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if conn is None:
                        conn = await asyncio.open_connection(self.host, self.port)
                    status = await exchange(*conn, request)
                if not status:
                    raise ConnectionResetError("the server closed the connection")
            except (OSError, EOFError, ValueError, TimeoutError):
                self.socket_errors += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            done = time.monotonic()
            self.latency[i] = done - min(due, sent)
            self.answered[i] = done - self.start
            if status.startswith(b"HTTP/1.1 2"):
                self.ok[i] = 1
            else:
                self.status_errors += 1
        if conn is not None:
            conn[1].close()

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            tick = {
                "t": time.monotonic() - self.start,
                "claimed": self.next_index,
                "errors": self.status_errors + self.socket_errors,
            }
            print(TICK + json.dumps(tick), flush=True)


def _summary(pacer: Pacer) -> dict[str, Any]:
    """The pacer's figures, per minute of the schedule (by when each request was due)."""
    seconds, rate, total, ok = pacer.seconds, pacer.rate, pacer.total, pacer.ok
    latency, lag, answered = pacer.latency, pacer.lag, pacer.answered
    status_errors, socket_errors = pacer.status_errors, pacer.socket_errors
    per_minute = []
    for minute in range(math.ceil(seconds / 60)):
        # request i is due at i / rate: in this minute when minute * 60 <= i / rate < (m + 1) * 60
        first = math.ceil(minute * 60 * rate)
        last = min(total, math.ceil((minute + 1) * 60 * rate))
        if first >= last:
            break
        times = sorted(x for x in latency[first:last] if not math.isnan(x))
        lags = sorted(x for x in lag[first:last] if not math.isnan(x))
        late = sorted(x for x in pacer.timer_late[first:last] if not math.isnan(x))
        per_minute.append(
            {
                "minute": minute + 1,
                "requests": last - first,
                "answered": len(times),
                "errors": (last - first) - sum(ok[first:last]),
                "p50_ms": _percentile(times, 0.50) * 1000 if times else None,
                "p99_ms": _percentile(times, 0.99) * 1000 if times else None,
                "max_ms": times[-1] * 1000 if times else None,
                # due → sent: waiting for a free connection, and the pacer's own lateness
                "send_lag_p99_ms": _percentile(lags, 0.99) * 1000 if lags else None,
                # the pacer's own lateness only: how late its timer woke it for a request it had
                # a free connection for (a starved client shows here, a slow server does not)
                "timer_late_p99_ms": _percentile(late, 0.99) * 1000 if late else None,
            }
        )
    everything = sorted(x for x in latency if not math.isnan(x))
    unsent = sum(1 for x in lag if math.isnan(x))
    return {
        "requests": total,
        "answered_2xx": sum(ok),
        "answered_2xx_in_time": sum(
            1 for i in range(total) if ok[i] and answered[i] <= seconds
        ),  # answers that came before the schedule ended
        "errors": {
            "total": status_errors + socket_errors + unsent,
            "status": status_errors,
            "socket": socket_errors,
            "unsent": unsent,
        },
        "p50_ms": _percentile(everything, 0.50) * 1000 if everything else None,
        "p99_ms": _percentile(everything, 0.99) * 1000 if everything else None,
        "max_ms": everything[-1] * 1000 if everything else None,
        "minutes": per_minute,
    }


def _pace_main(argv: list[str]) -> None:
    host, port, file, rate, seconds, connections, token = argv
    bodies = Path(file).read_bytes().split(b"\n")
    pacer = Pacer(host, int(port), bodies, float(rate), float(seconds), token)
    doc = asyncio.run(pacer.run(int(connections)))
    print(RESULT + json.dumps(doc), flush=True)


# --- memory --------------------------------------------------------------------------------------


def rss(pid: int) -> dict[str, float]:
    """VmRSS and its anonymous and file-backed parts, MiB, from /proc/<pid>/status."""
    wanted = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            out[wanted[key]] = int(value.split()[0]) / 1024  # kB
    return out


def sample(pid: int, wal: Path) -> dict[str, float]:
    """``rss(pid)``, with the server's CPU time (s, utime + stime from /proc/<pid>/stat), the
    store's WAL size (MiB) and the machine's 1-minute load average: what explains a slowdown."""
    out = rss(pid)
    # Fields after the command's closing parenthesis: the state is field 3, utime 14, stime 15.
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rpartition(")")[2].split()
    out["cpu"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    out["wal"] = wal.stat().st_size / _MIB if wal.exists() else 0.0
    out["load"] = os.getloadavg()[0]
    return out


def slope_mib_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) samples, in MiB a minute."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 60


def _at(samples: list[tuple[float, float]], when: float, *, first: bool = False) -> float | None:
    """The last sample taken at or before ``when`` (or, with ``first``, the first one taken)."""
    before = [v for t, v in samples if t <= when]
    if before:
        return before[-1]
    return samples[0][1] if first and samples else None


@dataclass
class Memory:
    samples: list[tuple[float, float]]  # (seconds since the schedule began, RSS MiB)
    warm_up: float
    seconds: float

    def summary(self) -> dict[str, Any]:
        start = _at(self.samples, self.warm_up)
        end = _at(self.samples, self.seconds)
        growth = (end - start) / start if start and end is not None else None
        half = [(t, v) for t, v in self.samples if self.seconds / 2 <= t <= self.seconds]
        slope = slope_mib_per_min(half)
        return {
            "start_mib": start,
            "end_mib": end,
            "peak_mib": max((v for _, v in self.samples), default=None),
            "growth": growth,
            "last_half_slope_mib_per_min": slope,
        }


def flat(summary: dict[str, Any]) -> list[str]:
    """Why memory is not flat (nothing when it is)."""
    growth, slope = summary["growth"], summary["last_half_slope_mib_per_min"]
    reasons = []
    if growth is None or growth >= MAX_GROWTH:
        reasons.append(f"RSS grew {_pct(growth)} after the warm-up (limit {MAX_GROWTH:.0%})")
    if slope is None or slope >= MAX_SLOPE_MIB_PER_MIN:
        reasons.append(
            f"RSS slope over the last half {_num(slope)} MiB/min "
            f"(limit {MAX_SLOPE_MIB_PER_MIN} MiB/min)"
        )
    return reasons


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


# --- the run -------------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Soak test: POST /v1/checks open loop at a fraction of its measured capacity; "
        "watches the server's memory. Exits 1 unless there were no errors and memory was flat.",
    )
    parser.add_argument("--minutes", type=float, default=MINUTES, help="how long (default 10)")
    parser.add_argument(
        "--fraction", type=float, default=FRACTION, help="of the measured rate (default 0.7)"
    )
    parser.add_argument(
        "--rate", type=float, help="requests/s to send; skips measuring the capacity"
    )
    parser.add_argument("--warm-up", type=float, default=WARM_UP, help="seconds (60)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="(default 16)")
    parser.add_argument(
        "--sample-seconds", type=float, default=SAMPLE_SECONDS, help="RSS every … s (2)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")
    if args.minutes * 60 < 2 * args.warm_up:
        parser.error("the run must last at least twice the warm-up (memory is judged after it)")
    return args


@dataclass
class _Live:
    start: float | None = None  # time.monotonic() when the schedule began
    tick: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    other: list[str] = field(default_factory=list)


def _read(stream: Any, live: _Live) -> None:
    for line in stream:
        if line.startswith(TICK):
            doc = json.loads(line.removeprefix(TICK))
            if "start_monotonic" in doc:
                live.start = doc["start_monotonic"]
            else:
                live.tick = doc
        elif line.startswith(RESULT):
            live.result = json.loads(line.removeprefix(RESULT))
        else:
            live.other.append(line)


@dataclass
class _Run:
    """What one soak measured, before it is written down."""

    began: datetime
    load_average: list[float]
    bodies: int
    capacity: Load | None
    rate: float
    rss_before: dict[str, float]
    memory: Memory
    live: _Live
    series: dict[str, list[tuple[float, float]]]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    errors = Console(stderr=True, log_path=False)
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
    ) as progress:
        run = _measure(args, Context(progress, errors))
    if run.live.result is None:
        errors.print("".join(run.live.other[-40:]))
        errors.print("[bold red]the pacer gave no result[/]")
        return 1
    command = " ".join(["python -m bench.soak", *(sys.argv[1:] if argv is None else argv)])
    doc = _document(args, run, run.live.result, command)
    args.results.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _print(out, doc)
    errors.print(f"wrote {args.results}")
    return 0 if doc["verdict"]["pass"] else 1


def _measure(args: argparse.Namespace, ctx: Context) -> _Run:
    began = datetime.now(UTC)
    prepared = prepare(ctx)
    bodies = _check_bodies(prepared.finding, prepared.others)
    token, work = prepared.tokens["bench"], prepared.work
    load_average = [round(x, 2) for x in os.getloadavg()]
    server = Server(prepared.built, work / "soak-server.log")
    try:
        os.sync()  # what building the store left for the disk, before anything is timed
        capacity: Load | None = None
        if args.rate is None:
            task = ctx.progress.add_task("soak: measuring the capacity (closed loop)", total=None)
            url, file = f"http://127.0.0.1:{server.port}", work / "soak.bodies"
            _python_load(url, PATH, bodies, WARM_UP_SECONDS, file, token)
            capacity = _python_load(url, PATH, bodies, SECONDS, file, token)
            ctx.progress.update(task, total=1, completed=1)
            ctx.say(
                f"capacity: {capacity.per_second:,.0f} checks/s closed loop, {CONNECTIONS} "
                f"connections, {capacity.requests:,} in {capacity.seconds:.1f} s; "
                f"p50 {capacity.p50_ms:.1f} ms, p99 {capacity.p99_ms:.1f} ms"
            )
            if capacity.errors:
                raise RuntimeError(f"{capacity.errors} checks failed measuring the capacity")
            rate = capacity.per_second * args.fraction
        else:
            rate = args.rate
        before = rss(server.process.pid)
        ctx.say(f"soak: {rate:,.0f} checks/s open loop for {args.minutes:g} min")
        database = prepared.built.url.removeprefix("sqlite:///")
        memory, live, series = _soak(
            ctx.progress, server, bodies, work, rate, args, token, database
        )
    finally:
        server.stop()
    return _Run(began, load_average, len(bodies), capacity, rate, before, memory, live, series)


def _document(
    args: argparse.Namespace, run: _Run, result: dict[str, Any], command: str
) -> dict[str, Any]:
    """What ``bench/soak.json`` holds, the verdict with it."""
    seconds = args.minutes * 60
    summary = run.memory.summary()
    for row in result["minutes"]:
        began, ended = (row["minute"] - 1) * 60, min(row["minute"] * 60, seconds)
        row["rss_mib"] = _at(run.memory.samples, ended)
        cpu = [_at(run.series["cpu"], t, first=True) for t in (began, ended)]
        row["server_cpu_ms_per_request"] = (
            (cpu[1] - cpu[0]) / row["answered"] * 1000
            if cpu[0] is not None and cpu[1] is not None and row["answered"]
            else None
        )
        row["wal_mib"] = _at(run.series["wal"], ended)
        row["load_1m"] = _at(run.series["load"], ended)
    reasons = []
    if result["errors"]["total"]:
        kinds = ", ".join(f"{k} {v:,}" for k, v in result["errors"].items() if k != "total")
        reasons.append(f"{result['errors']['total']:,} errors ({kinds})")
    reasons += flat(summary)
    capacity = run.capacity
    return {
        "command": command,
        "machine": facts(None),
        "began": run.began.isoformat(timespec="seconds"),
        "load_average_at_start": run.load_average,
        "settings": {
            "path": PATH,
            "minutes": args.minutes,
            "fraction": args.fraction if args.rate is None else None,
            "warm_up_seconds": args.warm_up,
            "connections": args.connections,
            "sample_seconds": args.sample_seconds,
            "request_timeout_seconds": REQUEST_TIMEOUT,
            "bodies": run.bodies,
        },
        "capacity": None
        if capacity is None
        else {**capacity.to_json(), "connections": CONNECTIONS, "closed_loop": True},
        "target_per_second": round(run.rate, 1),
        "achieved_per_second": round(result["answered_2xx_in_time"] / seconds, 1),
        "requests": result["requests"],
        "answered_2xx": result["answered_2xx"],
        "errors": result["errors"],
        "latency_ms": {k: _round(result[k]) for k in ("p50_ms", "p99_ms", "max_ms")},
        "minutes": [{k: _round(v) for k, v in row.items()} for row in result["minutes"]],
        "rss_mib": {
            "before_load": _round(run.rss_before.get("rss")),
            "start_after_warm_up": _round(summary["start_mib"]),
            "end": _round(summary["end_mib"]),
            "peak": _round(summary["peak_mib"]),
            "growth": None if summary["growth"] is None else round(summary["growth"], 4),
            "last_half_slope_mib_per_min": _round(summary["last_half_slope_mib_per_min"], 3),
            **{
                f"{name}_{when}": _round(_at(run.series[name], at))
                for name in ("anon", "file")
                for when, at in (("start_after_warm_up", args.warm_up), ("end", seconds))
            },
        },
        "rss_samples": [[round(t, 1), round(v, 1)] for t, v in run.memory.samples],
        "verdict": {
            "pass": not reasons,
            "reasons": reasons,
            "rule": f"no errors (non-2xx, socket errors, time-outs, unsent); RSS at the end less "
            f"than {MAX_GROWTH:.0%} above RSS at the end of the warm-up, and RSS slope over the "
            f"last half of the run below {MAX_SLOPE_MIB_PER_MIN} MiB/min",
        },
    }


def _soak(
    progress: Progress,
    server: Server,
    bodies: list[bytes],
    work: Path,
    rate: float,
    args: argparse.Namespace,
    token: str,
    database: str,
) -> tuple[Memory, _Live, dict[str, list[tuple[float, float]]]]:
    seconds = args.minutes * 60
    file = work / "soak.bodies"
    file.write_bytes(b"\n".join(bodies))
    live = _Live()
    samples: list[tuple[float, float]] = []
    # RSS's parts, the server's CPU seconds, the WAL's MiB, the machine's load: (t, value)
    series: dict[str, list[tuple[float, float]]] = {k: [] for k in _SERIES}
    wal = Path(database + "-wal")
    task = progress.add_task("soak: connecting", total=seconds)
    with subprocess.Popen(  # noqa: S603 — this interpreter, our own module and arguments
        [
            sys.executable,
            "-m",
            "bench.soak",
            "pace",
            "127.0.0.1",
            str(server.port),
            str(file),
            repr(rate),
            repr(seconds),
            str(args.connections),
            token,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as pacer:
        assert pacer.stdout is not None
        reader = threading.Thread(target=_read, args=(pacer.stdout, live), daemon=True)
        reader.start()
        next_sample = 0.0
        while pacer.poll() is None:
            time.sleep(0.25)
            if live.start is None:
                continue
            now = time.monotonic() - live.start
            if now >= next_sample and now <= seconds + args.sample_seconds:
                try:
                    got = sample(server.process.pid, wal)
                except OSError:
                    break  # the server is gone; the pacer will count the errors
                samples.append((now, got["rss"]))
                for name in _SERIES:
                    series[name].append((now, got.get(name, math.nan)))
                next_sample += args.sample_seconds
            tick = live.tick
            phase = "warm-up" if now < args.warm_up else "soak"
            last = f"{samples[-1][1]:,.0f}" if samples else "—"
            progress.update(
                task,
                completed=min(seconds, max(0.0, now)),
                description=f"soak ({phase}): {rate:,.0f}/s, {tick.get('claimed', 0):,} sent, "
                f"{tick.get('errors', 0):,} errors, server RSS {last} MiB",
            )
        pacer.wait()
        reader.join(timeout=10)
    progress.update(task, completed=seconds)
    return Memory(samples, args.warm_up, seconds), live, series


def _round(value: Any, digits: int = 2) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _print(out: Console, doc: dict[str, Any]) -> None:
    """The run as a table on stdout: a row a minute, a line on memory, the verdict."""
    capacity, mem, verdict = doc["capacity"], doc["rss_mib"], doc["verdict"]
    heading = f"soak: POST /v1/checks, open loop at {doc['target_per_second']:,.0f}/s"
    if capacity:
        heading += (
            f" ({doc['settings']['fraction']:.0%} of {capacity['per_second']:,}/s measured closed "
            f"loop by {capacity['tool']}, {capacity['connections']} connections)"
        )
    heading += (
        f" for {doc['settings']['minutes']:g} min on {doc['settings']['connections']} "
        f"connections; achieved {doc['achieved_per_second']:,.0f}/s"
    )
    table = Table(title=heading, title_justify="left")
    columns = ("minute", "requests", "errors", "p50 ms", "p99 ms", "max ms", "send lag p99 ms")
    for name in (*columns, "RSS MiB", "server CPU ms/check", "load"):
        table.add_column(name, justify="right")
    for row in doc["minutes"]:
        table.add_row(
            str(row["minute"]),
            f"{row['requests']:,}",
            f"{row['errors']:,}",
            *(_num(row[k]) for k in ("p50_ms", "p99_ms", "max_ms", "send_lag_p99_ms", "rss_mib")),
            _num(row["server_cpu_ms_per_request"], 2),
            _num(row["load_1m"]),
        )
    lat = doc["latency_ms"]
    table.add_row(
        "all",
        f"{doc['requests']:,}",
        f"{doc['errors']['total']:,}",
        *(_num(lat[k]) for k in ("p50_ms", "p99_ms", "max_ms")),
        "",
        _num(mem["end"]),
        "",
        "",
        style="bold",
    )
    out.print(table)
    out.print(
        f"server RSS: {_num(mem['before_load'])} MiB before the load, "
        f"{_num(mem['start_after_warm_up'])} MiB after the warm-up, {_num(mem['end'])} MiB at "
        f"the end ({_pct(mem['growth'])}), peak {_num(mem['peak'])} MiB; slope over the last "
        f"half {_num(mem['last_half_slope_mib_per_min'], 2)} MiB/min"
    )
    if verdict["pass"]:
        out.print("[bold green]PASS[/]: " + verdict["rule"])
    else:
        out.print("[bold red]FAIL[/]: " + "; ".join(verdict["reasons"]))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if sys.argv[1:2] == ["pace"]:
        _pace_main(sys.argv[2:])
    else:
        sys.exit(main())
