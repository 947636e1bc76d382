"""Load test (issue 8, "Load and faults"): 50 concurrent clients for 60 s on gunicorn, with admin writes beside them.

    .venv/bin/python bench/load/run.py --backend sqlite      # make loadtest
    .venv/bin/python bench/load/run.py --backend postgres    # make loadtest-postgres

What it does (bench/load/README.md):

1. The data set: the scale issue's synthetic register (``generate_demo_data --entities 20000 --seed 1``) in
   ``bench/load/load.sqlite3`` (a copy of ``bench/bench.sqlite3`` when that exists, else built) or in the
   PostgreSQL database ``registry_load`` (made by ``.ci/postgres.sh``); ``migrate`` brings either up to date.
2. Serves it as in production: ``collectstatic``, gunicorn with ``config/gunicorn.conf.py`` on 127.0.0.1 only,
   ``DJANGO_DEBUG=0``, a random 50-character secret key, ``DJANGO_ALLOWED_HOSTS=127.0.0.1``.
3. Builds a list of distinct URLs from the data: the benchmark's lists (bench/urllists.py: home, filtered and
   deep lists, exports, the API, the largest groups, licence details) and a realistic mix beside them (detail
   pages, filtered lists, exports, the API, search, changes), each URL once, shuffled; ``wrk`` (Debian's package)
   walks it so no URL is asked twice before every URL has been asked once: ``--connections`` clients for
   ``--duration`` seconds, after a short warm-up that starts elsewhere in the list.
4. Meanwhile ``bench/load/writer.py`` saves a record through the ORM every 100 ms, as a curator would.
5. Writes ``bench/load/results-<backend>.json`` and rebuilds ``bench/load/RESULTS.md``; exits 1 when any request
   failed (a socket error, a timeout, or any answer other than 2xx) or any write failed.

With ``--cdn`` the clients go through nginx configured as the CDN of docs/scaling.md (it caches what the origin's
``Cache-Control`` allows, revalidates with ``If-None-Match``, serves stale while it revalidates); the cache starts
empty, and the run records the cache's hit ratio and the requests that reached gunicorn
(``results-<backend>-cdn.json``).

With ``--replica`` (PostgreSQL) gunicorn gets ``DATABASE_REPLICA_URL`` pointing at a streaming replica made by
``.ci/postgres-replica.sh``, while the writer keeps to the primary; every PostgreSQL run records the CPU time of
the primary's (and the replica's) server processes during the measured window (``results-postgres-replica.json``).

Everything listens on 127.0.0.1; every process started is stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "bench" / "load"
PYTHON = Path(sys.executable)
BENCH_SQLITE = ROOT / "bench" / "bench.sqlite3"
SQLITE_PATH = LOAD / "load.sqlite3"
STATIC_ROOT = LOAD / "static"

sys.path.insert(0, str(ROOT / "bench"))
from servers import stop  # noqa: E402  (bench/ is a folder of scripts, not a package)


def log(message):
    print(f"[load] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url, port=None):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),  # 64 random URL-safe characters
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(STATIC_ROOT),
        "DJANGO_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if port:
        env["DJANGO_BIND"] = f"127.0.0.1:{port}"
    return env


def manage(env, *args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare_sqlite(entities, seed):
    """``bench/load/load.sqlite3``: a consistent copy of the benchmark's data set if there is one, else built."""
    url = f"sqlite:///{SQLITE_PATH}"
    env = server_env(url)
    if not SQLITE_PATH.exists():
        if BENCH_SQLITE.exists() and entities == 20000 and seed == 1:
            log(f"copying {BENCH_SQLITE.relative_to(ROOT)} (online backup: consistent even while it is read)")
            source, target = sqlite3.connect(BENCH_SQLITE), sqlite3.connect(SQLITE_PATH)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            manage(env, "migrate", "--noinput", "-v0")
            log("loading jurisdictions and generating the synthetic register (a few minutes)")
            manage(env, "loaddata", "jurisdictions", "-v0")
            manage(env, "generate_demo_data", "--entities", str(entities), "--seed", str(seed))
    manage(env, "migrate", "--noinput", "-v0")
    return url


def postgres_url(script):
    """The URL ``script`` (``.ci/postgres.sh`` or ``.ci/postgres-replica.sh``) prints for ``registry_load``."""
    return subprocess.run(
        ["bash", script],
        cwd=ROOT,
        env={**os.environ, "REGISTRY_PG_DB": "registry_load"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def prepare_postgres(entities, seed):
    """The ``registry_load`` database of the local PostgreSQL 15, never the test database."""
    url = postgres_url(".ci/postgres.sh")
    env = server_env(url)
    manage(env, "migrate", "--noinput", "-v0")
    count = int(sample_query(env, "entity_count"))
    if count < entities:
        log(f"{count} demo entities in registry_load: generating {entities}")
        manage(env, "loaddata", "jurisdictions", "-v0")
        manage(env, "generate_demo_data", "--entities", str(entities), "--seed", str(seed))
    return url


PG_CLUSTERS = {"primary": Path("/var/lib/postgresql/15/main"), "replica": Path("/var/lib/postgresql/15/replica")}


def cluster_cpu_ticks(data_dir):
    """CPU time (clock ticks) used so far by a PostgreSQL cluster: its postmaster and every child process."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == postmaster:
            # utime + stime, and cutime + cstime: the time of backends that exited (reaped by the postmaster).
            total += sum(int(value) for value in fields[11:15])
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def sample_query(env, what):
    """Run this file with ``--sample`` under ``env`` (its own Django process) and return its output."""
    result = subprocess.run(
        [PYTHON, __file__, "--sample", what], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def sample(what):
    """Inside Django: what the URL mix is made from (published records only, as the public sees them)."""
    import django

    django.setup()
    from registry.models import Audit, Entity, EntityKind, License, Regime, Regulator, Standard

    if what == "entity_count":
        print(Entity.objects.filter(slug__startswith="demo-").count())
        return

    def slugs(queryset, n=300):
        return list(queryset.order_by("?").values_list("slug", flat=True)[:n])

    licences = License.objects.published()
    data = {
        "entities": slugs(Entity.objects.published()),
        "groups": slugs(Entity.objects.published().filter(kind=EntityKind.GROUP), 100),
        "auditors": slugs(Entity.objects.published().filter(kind=EntityKind.AUDITOR), 50),
        "licenses": slugs(licences),
        "audits": slugs(Audit.objects.published()),
        "regulators": slugs(Regulator.objects.published(), 100),
        "regimes": slugs(Regime.objects.published(), 100),
        "standards": list(Standard.objects.values_list("slug", flat=True)[:50]),
        "jurisdictions": sorted(
            {code for code in licences.values_list("jurisdiction__code", flat=True)[:5000] if code}
        )[:100],
        "words": sorted(
            {word for name in Entity.objects.published().values_list("name", flat=True)[:500] for word in name.split()}
        )[:200],
    }
    print(json.dumps(data))


def url_mix(data, count, seed):
    """``count`` paths drawn with the weights below; the same data and seed give the same mix."""
    rng = random.Random(seed)

    def pick(key):
        # Percent-encoded as a browser sends it: a raw "é" in a request line is a 400 from gunicorn itself.
        return quote(rng.choice(data[key]))

    kinds = [
        # (weight, path maker): detail pages are most of a register's traffic, then lists, then the API.
        (10, lambda: f"/entities/{pick('entities')}/"),
        (10, lambda: f"/licenses/{pick('licenses')}/"),
        (6, lambda: f"/audits/{pick('audits')}/"),
        (3, lambda: f"/regulators/{pick('regulators')}/"),
        (2, lambda: f"/regimes/{pick('regimes')}/"),
        (4, lambda: f"/licenses/?regime={pick('regimes')}"),
        (3, lambda: f"/licenses/?usable_in={pick('jurisdictions')}&status=active"),
        (2, lambda: f"/licenses/?q={pick('words')}&sort=-granted_on"),
        (2, lambda: f"/licenses/?page={rng.randint(1, 20)}"),
        (3, lambda: f"/entities/?jurisdiction={pick('jurisdictions')}"),
        (2, lambda: "/entities/?kind=group&sort=name"),
        (3, lambda: f"/audits/?standard={pick('standards')}"),
        (2, lambda: "/regulators/"),
        (2, lambda: f"/licenses.csv?holder={pick('groups')}"),
        (2, lambda: f"/entities.json?jurisdiction={pick('jurisdictions')}&page_size=100"),
        (1, lambda: f"/audits.csv?auditor={pick('auditors')}"),
        (2, lambda: f"/licenses.json?regime={pick('regimes')}&page_size=50"),
        (1, lambda: "/regulators.csv"),
        (5, lambda: f"/api/licenses/?regime={pick('regimes')}"),
        (5, lambda: f"/api/entities/{pick('entities')}/"),
        (4, lambda: f"/api/licenses/{pick('licenses')}/"),
        (3, lambda: "/api/audits/?kind=certification"),
        (2, lambda: "/api/regulators/"),
        (3, lambda: "/"),
        (2, lambda: f"/search/?q={pick('words')}"),
        (2, lambda: "/changes/"),
    ]
    weights = [weight for weight, _ in kinds]
    makers = [maker for _, maker in kinds]
    return [rng.choices(makers, weights)[0]() for _ in range(count)]


def bench_paths(env):
    """Every URL of the benchmark's lists (bench/urllists.py) for the database ``env`` names."""
    result = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "urllists.py")], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    pages = json.loads(result.stdout.strip().splitlines()[-1])["pages"]
    return [path for page in pages.values() for path in page["paths"]]


def distinct_paths(env, data, seed):
    """The benchmark's URLs and the weighted mix, each once, shuffled (seeded) so the kinds interleave."""
    paths = list(dict.fromkeys(bench_paths(env) + url_mix(data, 2000, seed)))
    random.Random(seed).shuffle(paths)
    return paths


def wait_healthy(port, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"gunicorn on port {port} did not become healthy")


def wrk(port, paths_file, connections, duration, offset=0, threads=4):
    threads = min(threads, connections)
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(LOAD / "mix.lua"),
        f"http://127.0.0.1:{port}",
    ]
    env = {**os.environ, "PATHS": str(paths_file), "THREADS": str(threads), "OFFSET": str(offset)}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# nginx standing in for a CDN in front of gunicorn (docs/scaling.md, section 3): it follows the origin's headers
# (``Cache-Control: public, max-age=60, stale-while-revalidate=300``), revalidates expired entries with the
# stored ETag, lets one request per URL through at a time, and never caches what carries a session.
NGINX_CONF = """\
{user}daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format cache '$upstream_cache_status $status';
  access_log {dir}/access.log cache;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  proxy_cache_path {dir}/cache levels=1:2 keys_zone=registry:64m max_size=4g inactive=30m use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{origin};
      proxy_set_header Host 127.0.0.1;
      proxy_cache registry;
      proxy_cache_key $request_uri;
      proxy_cache_revalidate on;
      proxy_cache_lock on;
      proxy_cache_use_stale updating error timeout;
      proxy_cache_background_update on;
      proxy_cache_bypass $cookie_sessionid;
      proxy_no_cache $cookie_sessionid;
    }}
  }}
}}
"""
CDN = LOAD / "cdn"
# $upstream_cache_status values answered without a full page from the origin ("REVALIDATED" is the origin's 304).
CACHE_ANSWERS = ("HIT", "STALE", "UPDATING", "REVALIDATED")


def start_cdn(origin_port):
    """nginx on a free port in front of ``origin_port``, with an empty cache under ``bench/load/cdn/``."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed: `make loadtest-cdn` installs Debian's nginx-light")
    shutil.rmtree(CDN, ignore_errors=True)
    CDN.mkdir(parents=True)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, its workers would otherwise be "nobody"
    conf = CDN / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, dir=CDN, port=port, origin=origin_port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(CDN)], cwd=CDN)  # noqa: S603
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, port
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"nginx did not listen on 127.0.0.1:{port}: see {CDN / 'error.log'}")


def origin_requests(gunicorn_log):
    """Requests gunicorn has logged so far (its access log is one JSON line a request)."""
    return sum(1 for line in gunicorn_log.read_text().splitlines() if '"gunicorn.access"' in line)


def cache_statuses():
    counts = {}
    for line in (CDN / "access.log").read_text().splitlines():
        status = line.split(" ", 1)[0]
        counts[status] = counts.get(status, 0) + 1
    return counts


def run(options):
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make wrk` (Debian's package)")
    if options.replica and options.backend != "postgres":
        raise SystemExit("--replica needs --backend postgres (SQLite has no replicas)")
    started_at = datetime.datetime.now(datetime.UTC)
    prepare = prepare_sqlite if options.backend == "sqlite" else prepare_postgres
    url = prepare(options.entities, options.seed)
    env = server_env(url)
    manage(env, "collectstatic", "--noinput", "-v0")
    data = json.loads(sample_query(env, "mix"))
    paths = distinct_paths(env, data, options.seed)
    paths_file = LOAD / f"paths-{options.backend}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    label = options.backend + ("-cdn" if options.cdn else "") + ("-replica" if options.replica else "")
    gunicorn_log = LOAD / f"gunicorn-{label}.log"
    result, measured = drive(options, url, paths_file, len(paths), gunicorn_log)
    result.update(
        backend=options.backend,
        started_at=started_at.isoformat(timespec="seconds"),
        connections=options.connections,
        duration_s=options.duration,
        workers=options.workers or (os.cpu_count() or 1) * 2 + 1,
        entities=options.entities,
        seed=options.seed,
        distinct_paths=len(set(paths)),
        req_per_s=round(result["requests"] / (result["duration_us"] / 1e6), 1),
        errors=result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"]
        + result["requests"]
        - result["status_2xx"],
        server_errors_logged=server_errors(gunicorn_log),
        cpus=os.cpu_count(),
        load_average_after=os.getloadavg()[0],
        python=platform.python_version(),
        origin_req_per_s=round(measured["origin_requests"] / (result["duration_us"] / 1e6), 1),
        replica=bool(options.replica),
        **measured,
    )
    if options.cdn:
        statuses = cache_statuses()
        answered = sum(statuses.get(status, 0) for status in CACHE_ANSWERS)
        result.update(cdn=True, cache_statuses=statuses, hit_ratio=round(answered / max(sum(statuses.values()), 1), 4))
    (LOAD / f"results-{label}.json").write_text(json.dumps(result, indent=1) + "\n")
    render()
    log(json.dumps(result))
    failed = result["errors"] or result["server_errors_logged"] or result["writer"]["failures"]
    return 1 if failed else 0


def drive(options, url, paths_file, path_count, gunicorn_log):
    """Serve, warm up, then drive the clients and the writer for ``options.duration``: wrk's result, and what was
    measured beside it (the writer's figures, the requests that reached gunicorn, the databases' CPU)."""
    port = free_port()
    env, writer_env = environments(options, url, port)
    gunicorn = writer = cdn = None
    target = port
    with gunicorn_log.open("w") as logfile:
        try:
            gunicorn = subprocess.Popen(
                [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=logfile,
                stderr=subprocess.STDOUT,
            )
            wait_healthy(port)
            # The workers warm up on the origin itself: through the CDN this would also fill its cache.
            log(f"warming up for {options.warmup} s")
            wrk(port, paths_file, min(10, options.connections), options.warmup, offset=path_count // 2)
            if options.cdn:
                cdn, target = start_cdn(port)
                log(f"through nginx on port {target}, its cache empty")
            origin_before = origin_requests(gunicorn_log)
            clusters = PG_CLUSTERS if options.backend == "postgres" else {}
            ticks_before = {name: cluster_cpu_ticks(path) for name, path in clusters.items()}
            log(f"{options.connections} clients for {options.duration} s, a write every {options.interval} s")
            writer = subprocess.Popen(
                [
                    PYTHON,
                    str(LOAD / "writer.py"),
                    "--duration",
                    str(options.duration),
                    "--interval",
                    str(options.interval),
                ],
                cwd=ROOT,
                env=writer_env,
                stdout=subprocess.PIPE,
                text=True,
            )
            result = wrk(target, paths_file, options.connections, options.duration)
            origin = origin_requests(gunicorn_log) - origin_before
            ticks_after = {name: cluster_cpu_ticks(path) for name, path in clusters.items()}
            writes = json.loads(writer.communicate(timeout=options.duration + 120)[0].strip().splitlines()[-1])
        finally:
            stop(writer)
            stop(cdn)
            stop(gunicorn)
    return result, {
        "writer": writes,
        "origin_requests": origin,
        # Percent of one CPU over the measured window (None: that cluster was not running).
        "database_cpu_percent": {
            name: round(100 * (ticks_after[name] - ticks_before[name]) / os.sysconf("SC_CLK_TCK") / options.duration, 1)
            for name in clusters
            if ticks_before[name] is not None and ticks_after[name] is not None
        },
    }


def environments(options, url, port):
    """gunicorn's environment, and the writer's: the curator's writes go to the primary, replica or not."""
    env = server_env(url, port)
    if options.workers:
        env["GUNICORN_WORKERS"] = str(options.workers)
    writer_env = dict(env)
    if options.replica:
        env["DATABASE_REPLICA_URL"] = postgres_url(".ci/postgres-replica.sh")  # a streaming replica
    return env, writer_env


def server_errors(gunicorn_log):
    """The errors gunicorn's log holds: Django's are JSON lines; gunicorn's own (worker timeouts, killed workers)
    are "[ERROR]" / "[CRITICAL]"."""
    markers = ('"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]")
    return sum(1 for line in gunicorn_log.read_text().splitlines() if any(m in line for m in markers))


def render():
    """RESULTS.md from every results-<backend>[-cdn].json present."""
    sections = []
    for label in ("sqlite", "postgres", "postgres-replica", "sqlite-cdn", "postgres-cdn"):
        path = LOAD / f"results-{label}.json"
        if path.exists():
            sections.append(render_section(json.loads(path.read_text())))
    header = (
        "# Load test results\n\n"
        "Written by `bench/load/run.py` (`make loadtest`, `make loadtest-postgres`, `make loadtest-replica`,\n"
        "`make loadtest-cdn`); see README.md for the method.\n"
        "Latencies are wrk's, measured from the client, queueing included: with 50 clients on a few sync workers\n"
        "a request mostly waits for a free worker, so p99 reflects the queue as much as the page.\n"
    )
    (LOAD / "RESULTS.md").write_text(header + "\n" + "\n\n".join(sections) + "\n")


def render_section(r):
    """One run's section of RESULTS.md."""
    w = r["writer"]
    name = "SQLite (WAL, busy timeout 20 s)" if r["backend"] == "sqlite" else "PostgreSQL 15"
    cdn = []
    if r.get("replica"):
        name += ", public reads from a streaming replica (`DATABASE_REPLICA_URL`)"
    if r.get("database_cpu_percent"):
        cpu = ", ".join(f"{db} {percent} %" for db, percent in r["database_cpu_percent"].items())
        cdn += [f"PostgreSQL CPU during the run (percent of one CPU): {cpu}.", ""]
    if r.get("cdn"):
        name += ", through nginx caching as a CDN"
        statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(r["cache_statuses"].items()))
        cdn += [
            f"Cache (empty at the start): {r['hit_ratio'] * 100:.1f} % of requests answered from it ({statuses}; "
            "HIT, STALE, UPDATING and REVALIDATED count as answered, REVALIDATED being the origin's `304`). "
            f"gunicorn received {r['origin_requests']:,} requests ({r['origin_req_per_s']} req/s) for the "
            f"clients' {r['requests']:,} ({r['req_per_s']} req/s).",
            "",
        ]
    failed = r["errors"] or r["server_errors_logged"] or w["failures"]
    verdict = (
        f"FAIL** ({r['errors']} request errors, {r['server_errors_logged']} server errors logged, "
        f"{w['failures']} failed writes)."
        if failed
        else "pass** (zero errors, every write committed)."
    )
    return "\n".join(
        [
            f"## {name}",
            "",
            f"Run {r['started_at']}: {r['connections']} concurrent clients for {r['duration_s']} s, gunicorn "
            f"with {r['workers']} sync workers, {r['cpus']} CPUs, {r['entities']:,} synthetic entities "
            f"(seed {r['seed']}), {r['distinct_paths']} distinct URLs.",
            "",
            "| requests | req/s | p50 | p90 | p95 | p99 | max | errors | 2xx | non-2xx | server errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['requests']:,} | {r['req_per_s']} | {r['p50_ms']:.0f} ms | {r['p90_ms']:.0f} ms "
            f"| {r['p95_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['max_ms']:.0f} ms | {r['errors']} "
            f"| {r['status_2xx']:,} | {r['requests'] - r['status_2xx']} | {r['server_errors_logged']} |",
            "",
            f"Errors = connect + read + write errors + timeouts ({r['connect_errors']}, {r['read_errors']}, "
            f"{r['write_errors']}, {r['timeouts']}) + answers other than 2xx.",
            "",
            f"Concurrent admin-like writes (one ORM save every 100 ms): {w['writes']} committed, "
            f"{w['failures']} failed; save p50 {w['save_p50_ms']} ms, p99 {w['save_p99_ms']} ms, "
            f"max {w['save_max_ms']} ms." + (f" Failures: {'; '.join(w['failure_messages'])}" if w["failures"] else ""),
            "",
            *cdn,
            f"Load average (1 min) at the end: {r['load_average_after']:.1f}.",
            "",
            "**Verdict: " + verdict,
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--entities", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.1, help="Seconds between admin-like writes.")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: config/gunicorn.conf.py).")
    parser.add_argument("--cdn", action="store_true", help="Drive the clients through nginx caching as a CDN would.")
    parser.add_argument("--replica", action="store_true", help="PostgreSQL: public reads from a streaming replica.")
    parser.add_argument("--render", action="store_true", help="Only rebuild RESULTS.md from the results files.")
    parser.add_argument("--sample", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.sample:
        sample(options.sample)
        return 0
    if options.render:
        render()
        return 0
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
