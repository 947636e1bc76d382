"""The servers bench/run.py measures: gunicorn as in production, Datasette on a copy of the SQLite file.

Both listen on 127.0.0.1 only; :func:`stop` ends what was started (bench/run.py calls it in a ``finally``).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from drive import BENCH, HOST, worker_pids

ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
# Datasette lives in a virtualenv of its own (`make bench` makes it from requirements-bench.txt), so its
# dependencies never meet the project's pins.
DATASETTE = BENCH / ".venv-datasette" / "bin" / "datasette"

# Datasette's settings: its page size is the lists' (50); its time limits are raised so it computes every page and
# facet rather than giving up (ours has none); facet *suggestions* are off, work our pages never do.
DATASETTE_SETTINGS = {
    "default_page_size": 50,
    "sql_time_limit_ms": 60000,
    "facet_time_limit_ms": 60000,
    "suggest_facets": "off",
    "max_csv_mb": 0,
}


def server_env(database_url):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",  # noqa: S106
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_LOG_LEVEL="WARNING",
    )
    return env


def backup(source, target):
    """A consistent copy of a (WAL) SQLite database."""
    target = Path(target)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()


def wait_for(port, path="/", timeout=60, process=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-2000:] if log else ""
            raise SystemExit(f"the server for port {port} exited ({process.returncode}):\n{tail}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"nothing answered on {HOST}:{port} within {timeout} s")


def start_gunicorn(env, port, workers):
    env = dict(env, DJANGO_BIND=f"{HOST}:{port}", GUNICORN_MAX_REQUESTS="0", GUNICORN_TIMEOUT="120")
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    log = BENCH / f"gunicorn-{port}.log"
    logfile = open(log, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(  # noqa: S603
        [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py"), "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=logfile,
        stderr=subprocess.STDOUT,
    )
    wait_for(port, "/static/registry/site.css", process=process, log=log)
    return process


def start_datasette(path, port):
    args = [str(DATASETTE), "serve", "-i", str(Path(path).resolve()), "-h", HOST, "-p", str(port)]
    for name, value in DATASETTE_SETTINGS.items():
        args += ["--setting", name, str(value)]
    log = BENCH / "datasette.log"
    logfile = open(log, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(args, cwd=ROOT, stdout=logfile, stderr=subprocess.STDOUT)  # noqa: S603
    wait_for(port, "/-/versions.json", process=process, log=log)
    return process


def datasette_facts(port):
    """Datasette's version and every setting, as it reports them (printed in the results)."""
    versions = json.loads(fetch_body(port, "/-/versions.json"))
    settings = json.loads(fetch_body(port, "/-/settings.json"))
    return {"version": versions["datasette"]["version"], "settings": settings}


def stop(process):
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fetch_body(port, path):
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path} on port {port}: {response.status}")
    return body


def fetch(port, path):
    """Status, time to first body byte, total time and size of one GET."""
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    started = time.monotonic()
    conn.request("GET", path)
    response = conn.getresponse()
    first = response.read(1)
    ttfb = time.monotonic() - started
    size = len(first)
    try:
        while chunk := response.read(65536):
            size += len(chunk)
    except (http.client.IncompleteRead, OSError) as error:
        # A worker killed mid-stream (gunicorn's timeout): report how far it got.
        size += len(getattr(error, "partial", b""))
        return f"cut off after {size / 1e6:.2f} MB", ttfb, time.monotonic() - started, size
    return response.status, ttfb, time.monotonic() - started, size


def memory_kb(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def measure_csv(master, port, path):
    """Time an export and the private memory of the worker that served it, before and at its peak.

    Private memory is ``RssAnon``, sampled while the export runs: SQLite reads the database through a memory map
    (config/settings.py), whose pages count in ``VmRSS`` and ``VmHWM`` but are the kernel's file cache, shared
    and given back under pressure. What a streaming export must keep flat is its own heap.
    """
    pids = worker_pids(master)
    before = {pid: memory_kb(pid, "RssAnon") for pid in pids}
    peak = dict(before)
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            for pid in pids:
                peak[pid] = max(peak[pid], memory_kb(pid, "RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        status, ttfb, total, size = fetch(port, path)
    finally:
        done.set()
        sampler.join()
    grown = {pid: peak[pid] - before[pid] for pid in pids}
    pid = max(grown, key=grown.get) if grown else None
    return {
        "status": status,
        "ttfb_ms": ttfb * 1000,
        "total_s": total,
        "mb": size / 1e6,
        "rss_before_mb": before[pid] / 1024 if pid else 0,
        "peak_mb": peak[pid] / 1024 if pid else 0,
        "growth_mb": grown[pid] / 1024 if pid else 0,
    }
