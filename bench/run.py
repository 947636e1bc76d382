"""Benchmark the register on many distinct URLs beside Datasette, on loopback, bounded in time (bench/README.md).

Run through `make bench` (SQLite) or `make bench-postgres`; by hand:

    DATABASE_URL=sqlite:////abs/path/bench/bench.sqlite3 .venv/bin/python bench/run.py --backend sqlite

Builds the synthetic register if the database lacks it, serves it with gunicorn as in production (DEBUG off,
WhiteNoise, config/gunicorn.conf.py), serves a copy of the SQLite file with Datasette (facet suggestions off),
drives both with wrk over lists of distinct URLs, cold (the first pass after a write) and warm, at 1 and 8 clients,
times the same SQL alone (the floor), and writes bench/RESULTS.md (or RESULTS-postgres.md) and its JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import drive
import equivalents
import report
import servers
from drive import BENCH, PROGRESS, summarize, wait_idle, warn, worker_pids

ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
OURS_PORT = 8801
DATASETTE_PORT = 8802
SMALL_PORT = 8803
# The cheapest page there is (no query, no template), timed as the home page is: see "after_pause".
AFTER_PAUSE_PATH = "/robots.txt"
# A list shorter than this (the home page) is passed over again, after a write each time, for this many cold requests.
COLD_SAMPLES = 20
# The unmeasured passes that warm the workers' caches stop after this long.
WARM_UP_LIMIT_S = 60


def manage(env, *args):
    subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def django_json(env, *args, progress=None):
    """Run a Django-side script of bench/ under ``env``; returns its last stdout line parsed as JSON.

    Its stderr lines go to ``progress`` (a function returning True for the lines it took) when given; the others
    are kept for the error message. Its stdout goes to a file, which no pipe buffer can block.
    """
    drive.WORK.mkdir(exist_ok=True)
    out = drive.WORK / "django-stdout.txt"
    with out.open("w") as stdout:
        process = subprocess.Popen(  # noqa: S603
            [str(VENV_BIN / "python"), *args], cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        kept = [line for line in process.stderr if not (progress and progress(line))]
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{''.join(kept)[-3000:]}")
    return json.loads(out.read_text().strip().splitlines()[-1])


STATE = """
import json
from operations.demo import DEMO_SOURCE_SLUG
from registry.models import Entity, Source
print(json.dumps({"demo": Source.objects.filter(slug=DEMO_SOURCE_SLUG).exists(), "entities": Entity.objects.count()}))
"""


def build(env, entities, seed, sqlite_path=None):
    """Make sure the database holds the synthetic register of ``entities`` entities (built at most once)."""
    PROGRESS.show("migrating the bench database", force=True)
    manage(env, "migrate", "--noinput", "-v0")
    state = django_json(env, "manage.py", "shell", "-c", STATE)
    if state["demo"] and state["entities"] == entities:
        return
    if state["entities"]:
        warn("the bench database holds other data: flushing it (bench databases only)")
        manage(env, "flush", "--noinput", "-v0")
    PROGRESS.show("loading jurisdictions", force=True)
    manage(env, "loaddata", "jurisdictions", "-v0")
    if sqlite_path is not None:
        # An empty, migrated copy with jurisdictions: the small data set for the CSV memory check starts here.
        servers.backup(sqlite_path, BENCH / "empty.sqlite3")
    PROGRESS.clear()
    manage(env, "generate_demo_data", "--entities", str(entities), "--seed", str(seed))


class Bench:
    """The servers under test and how each run is made on them."""

    def __init__(self, options, database_url, ours, datasette):
        self.options = options
        self.database_url = database_url
        self.ours = ours
        self.datasette = datasette
        self.workers = len(worker_pids(ours)) or 1

    def _port(self, side):
        return OURS_PORT if side == "ours" else DATASETTE_PORT

    def _idle(self):
        wait_idle([self.ours, self.datasette])

    def cold(self, side, paths, clients):
        """The first pass over ``paths`` after a write; repeated (a write before each) while short of COLD_SAMPLES."""
        repeats = math.ceil(COLD_SAMPLES / max(len(paths), clients))
        samples, span_us, summaries = [], 0, []
        for repeat in range(repeats):
            if side == "ours":
                drive.bump(self.database_url)
            label = f"{side} cold, {clients} client{'s' * (clients > 1)}" + (
                f" ({repeat + 1}/{repeats})" * (repeats > 1)
            )
            summary, run = drive.wrk(self._port(side), paths, clients, passes=1, label=label)
            if not run:
                raise SystemExit(f"{side}: no answer in a cold pass over {paths[0]} and the rest ({summary})")
            samples += run
            span_us += max(s.start_us + s.latency_us for s in run) - min(s.start_us for s in run)
            summaries.append(summary)
            self._idle()
        total = {key: sum(s[key] for s in summaries) for key in summaries[0]}
        total["duration_us"] = span_us
        return summarize(samples, total, passes=False)

    def warm_up(self, side, paths, cold_seconds):
        """Unmeasured passes at 8 clients, one per worker (bounded in time), so the workers' caches fill."""
        passes = 1 if side == "datasette" else min(self.workers, max(1, int(WARM_UP_LIMIT_S / max(cold_seconds, 0.1))))
        drive.wrk(self._port(side), paths, 8, passes=passes, label=f"{side} warming up ({passes} passes)")
        self._idle()
        return passes

    def timed(self, side, paths, clients, cold_p50_ms):
        """A timed run over ``paths``; long enough (up to 30 s) for a few requests per client on a slow page."""
        parallel = max(1, min(clients, self.workers if side == "ours" else 1, os.cpu_count() or 1))
        needed = 3 * (cold_p50_ms or 0) / 1000 * clients / parallel
        seconds = int(min(30, max(self.options.duration, needed + 1)))
        label = f"{side} warm, {clients} client{'s' * (clients > 1)}"
        summary, samples = drive.wrk(self._port(side), paths, clients, duration=seconds, label=label)
        self._idle()
        return summarize(samples, summary, passes=False)

    def page(self, paths, ds_paths):
        """Cold and warm at 1 and 8 clients, ours and (when it has an equivalent) Datasette's, alternating."""
        sides = [("ours", paths)] + ([("datasette", ds_paths)] if ds_paths and self.datasette else [])
        result = {side: {} for side, _ in sides}
        for clients in (1, 8):
            for side, side_paths in sides:
                result[side][f"cold-{clients}"] = self.cold(side, side_paths, clients)
        result["warm_up_passes"] = {
            side: self.warm_up(side, side_paths, result[side]["cold-8"]["seconds"]) for side, side_paths in sides
        }
        for clients in (1, 8):
            for side, side_paths in sides:
                cold_p50 = result[side]["cold-1"]["p50_ms"]
                result[side][f"warm-{clients}"] = self.timed(side, side_paths, clients, cold_p50)
        return result

    def cache_hit(self, path, ds_path):
        """One URL repeated: the cached path, labelled as such."""
        result = {"path": path, "datasette_path": ds_path, "ours": {}, "datasette": {} if ds_path else None}
        for clients in (1, 8):
            result["ours"][str(clients)] = self.timed("ours", [path], clients, None)
            if ds_path and self.datasette:
                result["datasette"][str(clients)] = self.timed("datasette", [ds_path], clients, None)
        return result


def machine(database_url):
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
    if database_url.startswith("sqlite:"):
        database = f"SQLite {sqlite3.sqlite_version}"
    else:
        import psycopg

        with psycopg.connect(database_url) as connection:
            database = f"PostgreSQL {connection.execute('SHOW server_version').fetchone()[0]}"
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]  # noqa: S607
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_gb": int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "database": database,
        "wrk": wrk_version,
        "load_before": os.getloadavg()[0],
    }


def datasette_copy(options, lists):
    """The SQLite file Datasette serves (a copy of ours), or None when there is none of the same data set."""
    source = BENCH / "bench.sqlite3"
    if not source.exists():
        return None
    if options.backend == "postgres":
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
            entities = db.execute("SELECT COUNT(*) FROM registry_entity").fetchone()[0]
        if entities != lists["entities"]:
            warn(f"bench/bench.sqlite3 holds {entities:,} entities, not {lists['entities']:,}: Datasette not run")
            return None
    target = BENCH / "datasette.sqlite3"
    servers.backup(source, target)
    return target


def floor_progress(line):
    parts = line.split()
    if len(parts) == 5 and parts[0] == "floor":
        PROGRESS.show(f"SQL floor: {parts[1]} {parts[2]} {parts[3]}/{parts[4]}")
        return True
    return False


def measure(options, env, lists, raw):
    """Serve, drive every page type and the CSV export, and fill ``raw``; the servers are stopped on the way out."""
    ds_db = datasette_copy(options, lists)
    ds_paths, notes = equivalents.datasette_paths(ds_db, lists["pages"]) if ds_db else ({}, [])
    raw["notes"] += notes
    ours = datasette = None
    try:
        PROGRESS.show("starting gunicorn and Datasette", force=True)
        ours = servers.start_gunicorn(env, OURS_PORT, options.workers)
        if ds_db:
            datasette = servers.start_datasette(ds_db, DATASETTE_PORT)
            raw["datasette"] = servers.datasette_facts(DATASETTE_PORT)
            raw["datasette"]["command"] = "datasette serve -i datasette.sqlite3 " + " ".join(
                f"--setting {k} {v}" for k, v in servers.DATASETTE_SETTINGS.items()
            )
        if datasette:
            raw["equivalence"] = check_equivalence(lists["pages"]["json"]["paths"], ds_paths["json"])
        bench = Bench(options, env["DATABASE_URL"], ours, datasette)
        raw["workers"] = bench.workers
        measure_csv(ours, datasette, raw)
        for number, (key, *_rest) in enumerate(report.PAGE_TYPES, 1):
            paths = lists["pages"][key]["paths"]
            PROGRESS.prefix = f"bench [{number}/{len(report.PAGE_TYPES)}] {report.NAMES[key]} ({len(paths)} URLs): "
            result = bench.page(paths, ds_paths.get(key))
            result.update(key=key, urls=len(paths), example=paths[0])
            if ds_paths.get(key):
                result["datasette_example"] = ds_paths[key][0]
            raw["pages"].append(result)
            PROGRESS.prefix = ""
            warm = result["ours"]["warm-1"]
            PROGRESS.note(
                f"bench: {report.NAMES[key]}: p95 cold {report.ms(result['ours']['cold-1']['p95_ms'])} ms, "
                f"warm {report.ms(warm['p95_ms'])} ms at 1 client"
            )
        # What no page avoids: the least a request costs after a write and an idle pause, as each of the home
        # page's cold samples is sent (a page with no query and no template).
        PROGRESS.prefix = "bench: after a pause: "
        raw["after_pause"] = bench.cold("ours", [AFTER_PAUSE_PATH], 1)
        PROGRESS.prefix = "bench: cache hit: "
        licences = lists["pages"]["licences"]["paths"][0]
        raw["cache_hit"] = bench.cache_hit(licences, ds_paths["licences"][0] if ds_paths else None)
        PROGRESS.prefix = ""
    finally:
        servers.stop(ours)
        servers.stop(datasette)


def check_equivalence(paths, ds_paths, count=5):
    """Do the two JSON lists return the same rows? The first ``count`` URLs: totals equal, and slugs in common."""
    checked = equal_totals = shared = rows = 0
    for ours_path, ds_path in list(zip(paths, ds_paths, strict=True))[:count]:
        ours = json.loads(servers.fetch_body(OURS_PORT, ours_path))
        ds = json.loads(servers.fetch_body(DATASETTE_PORT, ds_path))
        ours_slugs = {row["slug"] for row in ours["results"]}
        ds_slugs = {row["slug"] if isinstance(row, dict) else row[ds["columns"].index("slug")] for row in ds["rows"]}
        checked += 1
        equal_totals += ours["count"] == ds["filtered_table_rows_count"]
        shared += len(ours_slugs & ds_slugs)
        rows += max(len(ours_slugs), len(ds_slugs))
    return {"urls": checked, "equal_totals": equal_totals, "shared_rows": shared, "rows": rows}


def measure_csv(ours, datasette, raw):
    """The export of every licence, first, while the workers are fresh, so their peak RSS is the export's."""
    PROGRESS.show("CSV export of all licences", force=True)
    raw["csv"]["ours"] = servers.measure_csv(ours, OURS_PORT, "/licenses.csv")
    if datasette:
        path = "/datasette/registry_license.csv?_stream=on&_size=max&_labels=on"
        status, ttfb, total, size = servers.fetch(DATASETTE_PORT, path)
        raw["csv"]["datasette"] = {"status": status, "ttfb_ms": ttfb * 1000, "total_s": total, "mb": size / 1e6}


def measure_small_csv(options, raw):
    """The same export from a smaller data set: how a worker's memory grows with the register."""
    if options.small_entities >= options.entities or not (BENCH / "empty.sqlite3").exists():
        return
    small_path = BENCH / f"bench-{options.small_entities}.sqlite3"
    small_env = servers.server_env(f"sqlite:///{small_path}")
    if not small_path.exists():
        servers.backup(BENCH / "empty.sqlite3", small_path)
        manage(small_env, "migrate", "--noinput", "-v0")  # the empty copy may predate a migration
        manage(small_env, "generate_demo_data", "--entities", str(options.small_entities), "--seed", str(options.seed))
    manage(small_env, "migrate", "--noinput", "-v0")  # it may predate a migration added since
    small = None
    try:
        PROGRESS.show(f"CSV export at N = {options.small_entities:,}", force=True)
        small = servers.start_gunicorn(small_env, SMALL_PORT, options.workers)
        raw["csv"]["ours_small"] = servers.measure_csv(small, SMALL_PORT, "/licenses.csv")
    finally:
        servers.stop(small)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--entities", type=int, default=20000)
    parser.add_argument("--small-entities", type=int, default=2000, help="Second data set for the CSV memory check.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=int, default=8, help="Seconds per timed (warm) run.")
    parser.add_argument("--urls", type=int, default=200, help="Distinct URLs per page type.")
    parser.add_argument("--deep", type=int, default=600, help="Distinct deep pages of the licence list.")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: config/gunicorn.conf.py).")
    parser.add_argument("--output", default="")
    parser.add_argument("--render-only", action="store_true", help="Rewrite the Markdown from the last run's JSON.")
    return parser.parse_args()


def main():
    options = parse_args()
    output = Path(
        options.output or BENCH / ("RESULTS.md" if options.backend == "sqlite" else "RESULTS-postgres.md")
    ).resolve()
    if options.render_only:
        raw = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
        output.write_text(report.render(raw, options), encoding="utf-8")
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make wrk` (Debian's package)")
    if not servers.DATASETTE.exists():
        raise SystemExit(f"Datasette is not installed at {servers.DATASETTE}: `make bench` installs it")
    database_url = os.environ["DATABASE_URL"]
    env = servers.server_env(database_url)
    raw = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": options.backend,
        "entities": options.entities,
        "seed": options.seed,
        "duration": options.duration,
        "machine": machine(database_url),
        "notes": [],
        "pages": [],
        "csv": {},
    }
    build(env, options.entities, options.seed, BENCH / "bench.sqlite3" if options.backend == "sqlite" else None)
    PROGRESS.show("choosing the URL lists", force=True)
    lists = django_json(env, "bench/urllists.py", "--limit", str(options.urls), "--deep", str(options.deep))
    raw["data"] = {k: v for k, v in lists.items() if k != "pages"}
    manage(env, "collectstatic", "--noinput", "-v0")
    measure(options, env, lists, raw)
    floor_lists = drive.WORK / "floor-lists.json"
    floor_lists.write_text(json.dumps({page["key"]: lists["pages"][page["key"]]["paths"] for page in raw["pages"]}))
    raw["floor"] = django_json(env, "bench/floor.py", str(floor_lists), progress=floor_progress)
    if options.backend == "sqlite":
        measure_small_csv(options, raw)
    raw["machine"]["load_after"] = os.getloadavg()[0]
    output.write_text(report.render(raw, options), encoding="utf-8")
    output.with_suffix(".json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    PROGRESS.clear()
    print(report.summary_line(raw, output.relative_to(ROOT)), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
