"""Benchmark the register beside Datasette, on loopback, bounded in time (see bench/README.md).

Run through `make bench` (SQLite) or `make bench-postgres`; by hand:

    DATABASE_URL=sqlite:////abs/path/bench/bench.sqlite3 .venv/bin/python bench/run.py --backend sqlite

Builds the synthetic register if the database lacks it, serves it with gunicorn as in production
(DEBUG off, WhiteNoise, config/gunicorn.conf.py), serves a copy of the SQLite file with Datasette,
drives both with wrk at 1 and 8 connections, and writes bench/RESULTS.md (or RESULTS-postgres.md).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
OURS_PORT = 8801
DATASETTE_PORT = 8802
SMALL_PORT = 8803
SEARCH = "aurora"  # a word in about 1 in 60 synthetic names (operations.demo.NAME_FIRST)


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


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


def manage(env, *args, check=True):
    return subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=check)  # noqa: S603


def django_query(env, code):
    """Run ``code`` in a Django shell against ``env``'s database; returns its last stdout line parsed as JSON."""
    out = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


STATE = """
import json
from operations.demo import DEMO_SOURCE_SLUG
from registry.models import Entity, Source
print(json.dumps({"demo": Source.objects.filter(slug=DEMO_SOURCE_SLUG).exists(), "entities": Entity.objects.count()}))
"""

PARAMS = """
import json
from django.db.models import Count
from registry.models import Entity, License, LicenseType, Regime, Entity as E
regime = Regime.objects.published().annotate(n=Count("license_types__licenses")).order_by("-n").first()
types = list(LicenseType.objects.filter(regime=regime).values_list("id", flat=True))
group = E.objects.published().filter(kind="group").annotate(n=Count("affiliates")).order_by("-n").first()
auditor = E.objects.published().filter(kind="auditor").annotate(n=Count("audits_performed")).order_by("-n").first()
print(json.dumps({"regime": regime.slug, "type_ids": types, "group": group.slug, "group_affiliates": group.n,
                  "auditor": auditor.slug, "auditor_id": auditor.pk, "licences": License.objects.count(),
                  "mt_id": __import__("registry.models").models.Jurisdiction.objects.get(code="MT").pk}))
"""


def build(env, entities, seed, sqlite_path=None):
    """Make sure the database holds the synthetic register of ``entities`` entities (built at most once)."""
    manage(env, "migrate", "--noinput", "-v0")
    state = django_query(env, STATE)
    if state["demo"] and state["entities"] == entities:
        log(f"reusing the existing data set ({entities:,} entities)")
        return
    if state["entities"]:
        log("the database holds other data: flushing it (bench databases only)")
        manage(env, "flush", "--noinput", "-v0")
    manage(env, "loaddata", "jurisdictions", "-v0")
    if sqlite_path is not None:
        # An empty, migrated copy with jurisdictions: the N = 2,000 data set for the CSV memory check starts here.
        backup(sqlite_path, BENCH / "empty.sqlite3")
    started = time.monotonic()
    manage(env, "generate_demo_data", "--entities", str(entities), "--seed", str(seed))
    log(f"built N = {entities:,} in {time.monotonic() - started:.0f} s")


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


def wait_for(port, path="/", timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
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
    conf = ROOT / "config" / "gunicorn.conf.py"
    if conf.exists():
        args = ["-c", str(conf), "config.wsgi"]
    else:
        args = ["config.wsgi", "--bind", f"{HOST}:{port}", "--workers", str(workers or 1), "--timeout", "120"]
    logfile = open(BENCH / f"gunicorn-{port}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(  # noqa: S603
        [str(VENV_BIN / "gunicorn"), *args], cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT
    )
    wait_for(port, "/static/registry/site.css")
    return process


def start_datasette(path, port):
    args = [
        str(VENV_BIN / "datasette"),
        "serve",
        "-i",
        str(path),
        "-h",
        HOST,
        "-p",
        str(port),
        # Its defaults give up on a query after 1 s and on a facet after 200 ms; here both must finish.
        "--setting",
        "sql_time_limit_ms",
        "60000",
        "--setting",
        "facet_time_limit_ms",
        "60000",
        "--setting",
        "max_csv_mb",
        "0",
        "--setting",
        "default_page_size",
        "50",
    ]
    logfile = open(BENCH / "datasette.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(args, cwd=ROOT, stdout=logfile, stderr=subprocess.STDOUT)  # noqa: S603
    wait_for(port, "/-/versions.json")
    return process


def stop(process):
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wrk(port, path, connections, duration):
    threads = min(connections, 2)
    out = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "60s",
            "-s",
            str(BENCH / "report.lua"),
            f"http://{HOST}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "status_errors", "timeouts"))
    return result


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


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def wait_idle(processes, limit=180):
    """Wait until the servers stop using CPU: wrk leaves queued requests behind that would slow the next run."""
    pids = []
    for process in processes:
        if process:
            pids += [process.pid, *worker_pids(process)]
    deadline = time.monotonic() + limit
    last = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = cpu_ticks(pids)
        if now - last <= 2:
            return
        last = now
    log(f"servers still busy after {limit} s")


def duration_for(port, path, connections, minimum, workers):
    """Long enough for a few requests to complete even on a slow page (bounded to 30 s)."""
    _, _, single, _ = fetch(port, path)
    parallel = max(1, min(connections, workers, os.cpu_count() or 1))
    needed = 3 * single * connections / parallel
    return int(min(30, max(minimum, needed + 1)))


def worker_pids(master):
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def memory_kb(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def measure_csv(master, port, path):
    """Time an export and the growth of the worker that served it (peak RSS after minus RSS before)."""
    before = {pid: (memory_kb(pid, "VmRSS"), memory_kb(pid, "VmHWM")) for pid in worker_pids(master)}
    status, ttfb, total, size = fetch(port, path)
    grown = {pid: memory_kb(pid, "VmHWM") - rss for pid, (rss, _) in before.items()}
    pid = max(grown, key=grown.get) if grown else None
    return {
        "status": status,
        "ttfb_ms": ttfb * 1000,
        "total_s": total,
        "mb": size / 1e6,
        "rss_before_mb": before[pid][0] / 1024 if pid else 0,
        "peak_mb": memory_kb(pid, "VmHWM") / 1024 if pid else 0,
        "growth_mb": grown[pid] / 1024 if pid else 0,
    }


def datasette_version():
    out = subprocess.run([str(VENV_BIN / "datasette"), "--version"], capture_output=True, text=True)  # noqa: S603
    return out.stdout.strip()


def pages(params):
    """(name, our path, Datasette path or None). Our list pages always show their facets."""
    regime, types = params["regime"], ",".join(map(str, params["type_ids"]))
    # A URL parameter for Datasette's _where (our search covers holder names the same way); not run here.
    holder_search = quote(f"holder_id in (select id from registry_entity where name like '%{SEARCH}%')")  # noqa: S608
    facets = "_facet=status&_facet=license_type_id&_facet=jurisdiction_id"
    ds = "/datasette/registry_license"
    filtered = f"status=active&license_type_id__in={types}"
    return [
        ("Licences: unfiltered, with facets", "/licenses/", f"{ds}?{facets}"),
        (
            "Licences: 2 filters + search, with facets",
            f"/licenses/?status=active&regime={regime}&q={SEARCH}",
            f"{ds}?{filtered}&_where={holder_search}&{facets}",
        ),
        (
            "Licences: one facet value selected",
            "/licenses/?granted_in=MT",
            f"{ds}?jurisdiction_id={params['mt_id']}&{facets}",
        ),
        ("Entities: unfiltered, with facets", "/entities/", None),
        ("Entities: 2 filters + search", f"/entities/?kind=affiliate&jurisdiction=MT&q={SEARCH}", None),
        ("Entities: one facet value selected", "/entities/?kind=group", None),
        ("Audits: unfiltered, with facets", "/audits/", None),
        (
            "Audits: 2 filters + search",
            f"/audits/?kind=certification&standard=demo-iso-iec-27001&q={SEARCH}",
            None,
        ),
        ("Audits: one facet value selected", f"/audits/?auditor={params['auditor']}", None),
        ("Regulators: unfiltered, with facets", "/regulators/", None),
        ("Regulators: 2 filters + search", f"/regulators/?jurisdiction=DE&regime={regime}&q=demo", None),
        (
            f"Entity detail: largest group ({params['group_affiliates']} affiliates)",
            f"/entities/{params['group']}/",
            None,
        ),
        (
            "JSON: filtered licences (100 rows)",
            f"/licenses.json?status=active&regime={regime}&page_size=100",
            f"{ds}.json?{filtered}&_size=100&_labels=on",
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--entities", type=int, default=20000)
    parser.add_argument("--small-entities", type=int, default=2000, help="Second data set for the CSV memory check.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=int, default=8, help="Seconds per endpoint per concurrency.")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: config/gunicorn.conf.py).")
    parser.add_argument("--output", default="")
    parser.add_argument("--render-only", action="store_true", help="Rewrite the Markdown from the last run's JSON.")
    options = parser.parse_args()
    output = Path(options.output or BENCH / ("RESULTS.md" if options.backend == "sqlite" else "RESULTS-postgres.md"))
    if options.render_only:
        raw = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
        started_at = datetime.datetime.fromisoformat(raw["started_at"])
        output.write_text(render(options, raw["params"], raw["pages"], raw["csv"], started_at), encoding="utf-8")
        return

    database_url = os.environ["DATABASE_URL"]
    env = server_env(database_url)
    sqlite_path = BENCH / "bench.sqlite3"
    started_at = datetime.datetime.now(datetime.UTC)
    build(env, options.entities, options.seed, sqlite_path if options.backend == "sqlite" else None)
    params = django_query(env, PARAMS)
    manage(env, "collectstatic", "--noinput", "-v0")

    # Datasette names the database after the file: /datasette/registry_license.
    datasette_db = BENCH / "datasette.sqlite3"
    have_datasette = sqlite_path.exists()
    if have_datasette:
        backup(sqlite_path, datasette_db)

    ours = datasette = small = None
    results, csv_results = [], {}
    try:
        ours = start_gunicorn(env, OURS_PORT, options.workers)
        if have_datasette:
            datasette = start_datasette(datasette_db, DATASETTE_PORT)
        # The export first, while the workers are fresh, so their peak RSS is the export's.
        csv_results["ours"] = measure_csv(ours, OURS_PORT, "/licenses.csv")
        log(f"CSV ours: {csv_results['ours']}")
        if datasette:
            status, ttfb, total, size = fetch(
                DATASETTE_PORT, "/datasette/registry_license.csv?_stream=on&_size=max&_labels=on"
            )
            csv_results["datasette"] = {"status": status, "ttfb_ms": ttfb * 1000, "total_s": total, "mb": size / 1e6}
            log(f"CSV Datasette: {csv_results['datasette']}")
        for name, path, ds_path in pages(params):
            for connections in (1, 8):
                workers = len(worker_pids(ours)) or 1
                seconds = duration_for(OURS_PORT, path, connections, options.duration, workers)
                ours_result = wrk(OURS_PORT, path, connections, seconds)
                ours_result["seconds"] = seconds
                wait_idle([ours])
                row = {"name": name, "path": path, "c": connections, "ours": ours_result}
                if ds_path and datasette:
                    row["datasette_path"] = ds_path
                    seconds = duration_for(DATASETTE_PORT, ds_path, connections, options.duration, 1)
                    row["datasette"] = wrk(DATASETTE_PORT, ds_path, connections, seconds)
                    row["datasette"]["seconds"] = seconds
                    wait_idle([datasette])
                log(
                    f"{name} c={connections}: ours {row['ours']['rps']:.1f} req/s p95 {row['ours']['p95_ms']:.0f} ms"
                    + (f"; Datasette {row['datasette']['rps']:.1f} req/s" if "datasette" in row else "")
                )
                results.append(row)
    finally:
        stop(ours)
        stop(datasette)

    # The same pages rendered cold (caches emptied before each render), in-process: the first request after a write.
    cold = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "python"), "bench/cold.py", *dict.fromkeys(row["path"] for row in results)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if cold.returncode == 0:
        cold = json.loads(cold.stdout.strip().splitlines()[-1])
        for row in results:
            row["cold"] = cold.get(row["path"])
    else:  # the served figures are still worth writing
        log(f"cold renders failed:\n{cold.stderr[-2000:]}")

    # The same export from the small data set: how the worker's memory grows with the register.
    if options.backend == "sqlite" and options.small_entities and (BENCH / "empty.sqlite3").exists():
        small_path = BENCH / f"bench-{options.small_entities}.sqlite3"
        small_env = server_env(f"sqlite:///{small_path}")
        if not small_path.exists():
            backup(BENCH / "empty.sqlite3", small_path)
            manage(small_env, "migrate", "--noinput", "-v0")  # the empty copy may predate a migration
            manage(
                small_env, "generate_demo_data", "--entities", str(options.small_entities), "--seed", str(options.seed)
            )
        manage(small_env, "migrate", "--noinput", "-v0")  # it may predate a migration added since
        try:
            small = start_gunicorn(small_env, SMALL_PORT, options.workers)
            csv_results["ours_small"] = measure_csv(small, SMALL_PORT, "/licenses.csv")
            log(f"CSV ours at N = {options.small_entities:,}: {csv_results['ours_small']}")
        finally:
            stop(small)

    output.write_text(render(options, params, results, csv_results, started_at), encoding="utf-8")
    raw = output.with_suffix(".json")
    raw.write_text(
        json.dumps(
            {"started_at": started_at.isoformat(), "params": params, "pages": results, "csv": csv_results}, indent=1
        ),
        encoding="utf-8",
    )
    log(f"wrote {output.relative_to(ROOT)} and {raw.relative_to(ROOT)}")


def latency(result, key):
    return f"{result[key]:.0f}" if result["requests"] else "none"


def render(options, params, results, csv_results, started_at):
    import django
    import gunicorn

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    sqlite_version = sqlite3.sqlite_version
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]  # noqa: S607
    workers = options.workers or f"config/gunicorn.conf.py default ({os.cpu_count() * 2 + 1})"
    lines = [
        f"# Benchmark: {options.backend}, N = {options.entities:,} entities ({params['licences']:,} licences)",
        "",
        f"Run {started_at:%Y-%m-%d %H:%M} UTC by `make bench{'-postgres' if options.backend == 'postgres' else ''}`"
        f" (bench/run.py), {options.duration} s per endpoint per concurrency, wrk on loopback.",
        "",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {mem_gb:.0f} GB RAM, {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, gunicorn {gunicorn.__version__} "
        f"(sync workers: {workers}), SQLite {sqlite_version}, {datasette_version()} (one process, immutable `-i`), "
        f"{wrk_version}",
        f"- Data: `generate_demo_data --entities {options.entities} --seed {options.seed}`; search word `{SEARCH}`, "
        f"regime `{params['regime']}`.",
        "",
        "Latencies in ms. Ratio = our req/s ÷ Datasette's on the equivalent page (≥ 1.0 means we are faster).",
        "wrk repeats one URL, so past each worker's first request our figures are of the cached path (counts,",
        "facets, page ids and filter options are cached per data version, docs/scaling.md). *Cold* is the other",
        "path, the first request after any write: the median (and worst) of 5 in-process renders of the page,",
        "each after emptying those caches (bench/cold.py), without HTTP.",
        "",
        "| Page | Clients | req/s | p50 | p95 | p99 | errors | Cold median (worst) | Datasette req/s | Datasette p95 "
        "| Ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results:
        ours = row["ours"]
        ds = row.get("datasette")
        if ds and ds["requests"] and ours["requests"]:
            ds_cells = f"{ds['rps']:.2f} | {ds['p95_ms']:.0f} | {ours['rps'] / ds['rps']:.2f}"
        elif ds:
            ds_cells = f"{ds['rps']:.2f} | {latency(ds, 'p95_ms')} | –"
        else:
            ds_cells = "– | – | –"
        cold = row.get("cold")
        cold_cell = f"{cold['median_ms']:.0f} ({cold['max_ms']:.0f})" if cold and row["c"] == 1 else ""
        lines.append(
            f"| {row['name']} | {row['c']} | {ours['rps']:.2f} | {latency(ours, 'p50_ms')} | "
            f"{latency(ours, 'p95_ms')} | {latency(ours, 'p99_ms')} | {ours['errors']} | {cold_cell} | {ds_cells} |"
        )
    lines += [
        "",
        f"Each run lasts {options.duration} s, or longer (up to 30 s) for a page so slow that fewer than three "
        "requests per connection would complete; the servers are left to go idle between runs (wrk abandons queued "
        'requests that would otherwise slow the next run). "none": no request completed in the window.',
    ]
    lines += ["", "## CSV export of all licences", ""]
    lines += [
        "| Server | Status | First byte (ms) | Total (s) | Size (MB) | Worker RSS before (MB) | Worker peak (MB) |"
    ]
    lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, label in (
        ("ours", f"Ours, N = {options.entities:,}"),
        ("ours_small", f"Ours, N = {options.small_entities:,}"),
        ("datasette", "Datasette (`_stream=on&_labels=on`)"),
    ):
        if key in csv_results:
            r = csv_results[key]
            lines.append(
                f"| {label} | {r['status']} | {r['ttfb_ms']:.0f} | {r['total_s']:.1f} | {r['mb']:.1f} | "
                f"{r.get('rss_before_mb', 0):.0f} | {r.get('peak_mb', 0):.0f} |"
            )
    if "ours" in csv_results and "ours_small" in csv_results:
        growth = csv_results["ours"]["peak_mb"] - csv_results["ours_small"]["peak_mb"]
        lines += [
            "",
            f"Worker peak RSS grows {growth:.1f} MB from N = {options.small_entities:,} to N = {options.entities:,}.",
        ]
    lines += ["", "## Pages measured", ""]
    for row in results[::2]:
        lines.append(
            f"- {row['name']}: `{row['path']}`"
            + (f" / Datasette `{row['datasette_path']}`" if "datasette_path" in row else "")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
