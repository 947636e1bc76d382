"""Driving a server with wrk over a list of distinct URLs (bench/cycle.lua), and what bench/run.py needs beside it.

A run is either *passes* (each URL asked a given number of times, the first pass being the cold one; wrk is ended
once every thread has finished) or *timed* (wrk's ``-d``, cycling through the list). Latencies are per request,
timed by cycle.lua, without wrk's coordinated-omission correction; bench/run.py's figures are computed here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work"
HOST = "127.0.0.1"
# The longest a pass may take before wrk gives up on it (it then reports what it measured).
PASS_LIMIT_S = 900

# A write that changes nothing but raises the data version, as any write does: every cache of derived data keyed
# on it (a list's count, facets, page ids, filter choices) becomes unreachable, as after a curator's save.
BUMP_SQL = "UPDATE registry_entity SET description = description WHERE id = (SELECT MIN(id) FROM registry_entity)"


class Progress:
    """One line redrawn on a terminal (stderr); nothing otherwise, where only the final summary line is printed."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.prefix = ""
        self.last = 0.0

    def show(self, text, force=False):
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        width = shutil.get_terminal_size((120, 20)).columns - 1
        self.stream.write("\r\033[K" + f"{self.prefix}{text}"[:width])
        self.stream.flush()

    def note(self, text):
        """A line that stays (on a terminal only): a step's outcome worth keeping in view."""
        if self.tty:
            self.stream.write("\r\033[K" + text + "\n")
            self.stream.flush()

    def clear(self):
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


PROGRESS = Progress()


def warn(message):
    """Always shown: something the reader of the results must know."""
    PROGRESS.clear()
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Sample:
    line: int  # the URL's 1-based line in the list
    start_us: int
    latency_us: int
    status: int


def percentile(ordered, p):
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(samples, summary, passes):
    """req/s, p50/p95/p99/max (ms) and errors of one run. A pass's rate is over its own span (first request sent
    to last answer); a timed run's over wrk's duration."""
    latencies = sorted(s.latency_us / 1000 for s in samples)
    if passes and samples:
        span = max(s.start_us + s.latency_us for s in samples) - min(s.start_us for s in samples)
    else:
        span = summary["duration_us"]
    socket_errors = sum(summary[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "requests": len(samples),
        "rps": len(samples) / (span / 1e6) if span else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "errors": socket_errors + sum(1 for s in samples if not 200 <= s.status < 400),
        "seconds": round(span / 1e6, 2),
    }


def wrk(port, paths, connections, *, passes=0, duration=0, label=""):
    """Drive ``paths`` on ``port`` with ``connections`` clients; returns ``(summary dict, [Sample])``."""
    WORK.mkdir(exist_ok=True)
    urls, samples_file = WORK / f"urls-{port}.txt", WORK / f"samples-{port}.txt"
    urls.write_text("\n".join(paths) + "\n", encoding="utf-8")
    samples_file.unlink(missing_ok=True)
    env = dict(
        os.environ,
        BENCH_URLS=str(urls),
        BENCH_THREADS=str(connections),
        BENCH_PASSES=str(passes),
        BENCH_SAMPLES=str(samples_file),
    )
    seconds = PASS_LIMIT_S if passes else duration
    args = [shutil.which("wrk") or "wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s"]
    args += ["--timeout", "60s", "-s", str(BENCH / "cycle.lua"), f"http://{HOST}:{port}"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    expected = passes * max(len(paths), connections)
    if passes:
        other = _follow_passes(process, connections, expected, label)
    else:
        other = _follow_timed(process, duration, label)
    stdout = process.stdout.read()
    if process.wait() != 0 or not samples_file.exists():
        raise SystemExit(f"wrk failed ({process.returncode}): {''.join(other).strip() or stdout.strip()}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    samples = []
    for row in samples_file.read_text().split("\n"):
        if row:
            samples.append(Sample(*map(int, row.split())))
    return summary, samples


def _follow_passes(process, threads, expected, label):
    """Count answers as cycle.lua reports them; once every thread is done, end wrk (SIGINT, until it exits)."""
    answered = finished = 0
    other = []
    for line in process.stderr:
        if line == "answered\n":
            answered += 1
            PROGRESS.show(f"{label} {answered:,}/{expected:,}")
        elif line == "done\n":
            finished += 1
            if finished == threads:
                break
        else:
            other.append(line)
    # wrk sleeps for its whole -d, then joins its threads; SIGINT wakes it. It may arrive before wrk installs its
    # handler (a very short pass), hence the repeats.
    while process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue
    other += process.stderr.readlines()
    return other


def _follow_timed(process, duration, label):
    started = time.monotonic()
    while process.poll() is None:
        PROGRESS.show(f"{label} {time.monotonic() - started:.0f}/{duration} s")
        try:
            process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
    return process.stderr.readlines()


def bump(database_url):
    """Empty the server's caches of derived data the way any write does (see BUMP_SQL)."""
    if database_url.startswith("sqlite:"):
        connection = sqlite3.connect(database_url.split("sqlite://", 1)[1], timeout=20)
        try:
            with connection:
                connection.execute(BUMP_SQL)
        finally:
            connection.close()
        return
    import psycopg

    with psycopg.connect(database_url.replace("postgis://", "postgres://"), autocommit=True) as connection:
        connection.execute(BUMP_SQL)


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def worker_pids(master):
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def wait_idle(processes, limit=180):
    """Wait until the servers stop using CPU: an abandoned request must not slow the next run."""
    pids = []
    for process in processes:
        if process:
            pids += [process.pid, *worker_pids(process)]
    deadline = time.monotonic() + limit
    last = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_ticks(pids)
        if now - last <= 1:
            return
        last = now
    warn(f"servers still busy after {limit} s")
