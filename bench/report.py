"""bench/RESULTS.md (or RESULTS-postgres.md) from one run's figures (bench/run.py; ``--render-only`` redoes it)."""

from __future__ import annotations

import statistics

# (key, name, short name, target on SQLite in ms at p95, 1 client: {pass: limit}); PostgreSQL's are 1.5 times these.
PAGE_TYPES = [
    ("home", "Home page", "home", {"warm": 20, "cold": 20}),
    ("licences", "Licences, one facet value selected, facets shown", "licence list", {"warm": 30, "cold": 60}),
    ("deep", "Licences, deep pages, facets shown", "deep pages", {"warm": 30, "cold": 60}),
    ("entities", "Entities, one facet value selected, facets shown", "entity list", {"warm": 30, "cold": 60}),
    ("audits", "Audits, one facet value selected, facets shown", "audit list", {"warm": 30, "cold": 60}),
    ("json", "Filtered JSON export, 100 rows", "JSON export", {}),
    ("api", "API list, 100 rows", "API list", {"warm": 30, "cold": 30}),
    ("group", "Entity page, largest groups", "group page", {"warm": 50, "cold": 50}),
    ("licence", "Licence detail", "licence detail", {}),
]
NAMES = {key: name for key, name, _, _ in PAGE_TYPES}
SHORT = {key: short for key, _, short, _ in PAGE_TYPES}
TARGETS = {key: targets for key, _, _, targets in PAGE_TYPES}
RUNS = [("cold", 1), ("warm", 1), ("cold", 8), ("warm", 8)]
TARGET_N = 20000
POSTGRES_FACTOR = 1.5


def ms(value):
    return "–" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def table_head(*names, left=()):
    """A Markdown table's heading and alignment rows: the columns named in ``left`` (text) flush left, the others
    (figures) flush right."""
    return [table_row(*names), table_row(*("---" if name in left else "---:" for name in names))]


def table_row(*cells):
    return f"| {' | '.join(str(cell) for cell in cells)} |"


def limits(backend, key):
    factor = POSTGRES_FACTOR if backend == "postgres" else 1
    return {phase: limit * factor for phase, limit in TARGETS[key].items()}


def verdicts(raw):
    """``[(key, phase, limit, p95, met)]`` for every page type with a target, at 1 client."""
    rows = []
    for page in raw["pages"]:
        for phase, limit in limits(raw["backend"], page["key"]).items():
            p95 = page["ours"][f"{phase}-1"]["p95_ms"]
            rows.append((page["key"], phase, limit, p95, p95 is not None and p95 <= limit))
    return rows


def floor_rows(raw):
    """Per page type: queries, SQL floor, in-process render and served p50 (cold, warm), and served ÷ floor."""
    rows = []
    for page in raw["pages"]:
        entries = raw.get("floor", {}).get(page["key"])
        if not entries:
            continue
        row = {"key": page["key"]}
        for phase in ("cold", "warm"):
            items = entries[phase]
            row[phase] = {
                "queries": statistics.median(item[0] for item in items),
                "floor_ms": statistics.median(item[1] for item in items),
                "inprocess_ms": statistics.median(item[2] for item in items),
                "served_ms": page["ours"][f"{phase}-1"]["p50_ms"],
            }
            floor = row[phase]["floor_ms"]
            served = row[phase]["served_ms"]
            row[phase]["ratio"] = served / floor if served and floor else None
        rows.append(row)
    return rows


def _header(raw):
    m, d = raw["machine"], raw.get("datasette")
    backend = "SQLite" if raw["backend"] == "sqlite" else "PostgreSQL"
    target = "bench" if raw["backend"] == "sqlite" else "bench-postgres"
    lines = [
        f"# Benchmark: {backend}, N = {raw['entities']:,} entities ({raw['data']['licences']:,} licences)",
        "",
        f"Run {raw['started_at'][:16].replace('T', ' ')} UTC by `make {target}`"
        f" (bench/run.py): wrk on loopback over lists of distinct URLs, {raw['duration']} s per timed run.",
        "",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['mem_gb']:.0f} GB RAM, {m['platform']}; load average "
        f"{m['load_before']:.1f} before the run, {m['load_after']:.1f} after",
        f"- Python {m['python']}, Django {m['django']}, gunicorn {m['gunicorn']} ({raw['workers']} sync workers), "
        f"{m['database']}, {m['wrk']}",
        f"- Data: `generate_demo_data --entities {raw['entities']} --seed {raw['seed']}`",
    ]
    if d:
        lines.append(f"- Datasette {d['version']}, one process, immutable (`-i`), on a copy of the SQLite file")
    else:
        lines.append("- Datasette: not run (no SQLite copy of the same data set)")
    if raw["entities"] != TARGET_N:
        lines += ["", f"**N = {raw['entities']:,}: the targets are for N = {TARGET_N:,}; verdicts are indicative.**"]
    return lines


METHOD = """
How to read it. Each page type is driven by a list of distinct URLs (bench/urllists.py; the last section lists
them); wrk (bench/cycle.lua) walks the list in order, each client taking every n-th URL, so no URL is asked twice
before every URL has been asked once.

- *Cold*: the first pass over the list, each URL once, right after a write (any write makes every cached count,
  facet, page of ids and filter choice unreachable: docs/scaling.md); the home page, a single URL, is asked 20
  times, each after a write.
- *Warm*: after more passes at 8 clients (unmeasured; one per gunicorn worker, fewer if that would take over a
  minute: the last section says how many), a timed run cycling through the list. The workers share one cache
  (diskcache on disk, config/settings.py), so a URL any worker has served is warm in all: this is the steady
  state of a list this long, each URL served once before, not one URL's cache hit (that is the table "Cache hit").
- Latencies (ms) are per request, timed by the client, without wrk's coordinated-omission correction; req/s over
  the run. Ratio = our req/s ÷ Datasette's on the equivalent URL list (> 1: we serve more).
""".strip()


def _main_table(raw):
    lines = table_head(
        "Page type (distinct URLs)",
        "Clients",
        "Pass",
        "req/s",
        "p50",
        "p95",
        "p99",
        "errors",
        "Datasette req/s",
        "Datasette p50",
        "Datasette p95",
        "Ratio",
        left=("Page type (distinct URLs)", "Pass"),
    )
    for page in raw["pages"]:
        for phase, clients in RUNS:
            ours = page["ours"][f"{phase}-{clients}"]
            ds = (page.get("datasette") or {}).get(f"{phase}-{clients}")
            theirs = ("–",) * 4
            if ds:
                ratio = f"{ours['rps'] / ds['rps']:.2f}" if ds["rps"] else "–"
                theirs = (f"{ds['rps']:.1f}", ms(ds["p50_ms"]), ms(ds["p95_ms"]), ratio)
            lines.append(
                table_row(
                    f"{NAMES[page['key']]} ({page['urls']})",
                    clients,
                    phase,
                    f"{ours['rps']:.1f}",
                    *(ms(ours[key]) for key in ("p50_ms", "p95_ms", "p99_ms")),
                    ours["errors"],
                    *theirs,
                )
            )
    return lines


def _targets(raw):
    backend = raw["backend"]
    scope = "SQLite" if backend == "sqlite" else f"PostgreSQL: {POSTGRES_FACTOR}× the SQLite targets"
    lines = [
        f"## Targets (N = {TARGET_N:,}, {scope}; 1 client, p95, distinct URLs)",
        "",
        "A target given as one figure holds cold and warm alike. The largest groups' figure is the p95 over the",
        "pages of the largest groups (the largest first), at least as demanding as the largest group's page alone.",
        "",
        *table_head("Page type", "Pass", "Target (ms)", "p95 (ms)", "Verdict", left=("Page type", "Pass", "Verdict")),
    ]
    rows = verdicts(raw)
    for key, phase, limit, p95, met in rows:
        lines.append(table_row(NAMES[key], phase, f"≤ {limit:g}", ms(p95), "met" if met else "**missed**"))
    met = sum(1 for row in rows if row[4])
    lines += ["", f"{met} of {len(rows)} met."]
    pause = raw.get("after_pause")
    if pause:
        lines += [
            "",
            "For scale: `/robots.txt`, which runs no query and no template, asked as the home page's cold samples are",
            f"(one request after a write, the machine idle before it): p50 {ms(pause['p50_ms'])} ms, p95"
            f" {ms(pause['p95_ms'])} ms. A request after an idle pause pays for a waking CPU, whatever it serves.",
        ]
    return lines


def _floor(raw):
    rows = floor_rows(raw)
    if not rows:
        return []
    lines = [
        "## The physical floor: the same SQL alone",
        "",
        "bench/floor.py renders each URL of each list in-process (cold after a write, then warm), captures the SQL",
        "the view ran (`CaptureQueriesContext`), and replays it with `connection.cursor()`, fetching every row (the",
        "fastest of 3). Medians over the list; *served* is the p50 at 1 client above. Served ÷ floor is what our",
        "Python and HTTP add to the database's own work.",
        "",
        *table_head(
            "Page type",
            "Queries (cold / warm)",
            "SQL floor p50 (cold / warm)",
            "In-process p50 (cold / warm)",
            "Served p50 (cold / warm)",
            "Served ÷ floor (cold / warm)",
            left=("Page type",),
        ),
    ]
    for entry in rows:
        c, w = entry["cold"], entry["warm"]
        lines.append(
            table_row(
                NAMES[entry["key"]],
                f"{c['queries']:g} / {w['queries']:g}",
                *(f"{ms(c[key])} / {ms(w[key])}" for key in ("floor_ms", "inprocess_ms", "served_ms")),
                " / ".join("–" if r["ratio"] is None else f"{r['ratio']:.1f}" for r in (c, w)),
            )
        )
    return lines


def _cache_hit(raw):
    hit = raw.get("cache_hit")
    if not hit:
        return []
    lines = [
        "## Cache hit: one URL repeated (not the measure of the site)",
        "",
        f"`{hit['path']}` asked again and again: after each worker's first request, every figure is a cache hit.",
        "",
        *table_head(
            "Page", "Clients", "req/s", "p50", "p95", "p99", "Datasette req/s", "Datasette p95", "Ratio", left=("Page",)
        ),
    ]
    for clients in ("1", "8"):
        ours, ds = hit["ours"][clients], (hit.get("datasette") or {}).get(clients)
        theirs = (f"{ds['rps']:.1f}", ms(ds["p95_ms"]), f"{ours['rps'] / ds['rps']:.2f}") if ds else ("–",) * 3
        lines.append(
            table_row(
                f"{NAMES['licences']}, cache hit",
                clients,
                f"{ours['rps']:.1f}",
                *(ms(ours[key]) for key in ("p50_ms", "p95_ms", "p99_ms")),
                *theirs,
            )
        )
    return lines


def _datasette(raw):
    d = raw.get("datasette")
    if not d:
        return []
    settings = ", ".join(f"`{k}` {v}" for k, v in d["settings"].items())
    lines = [
        "## Datasette's configuration",
        "",
        f"Datasette {d['version']}, started as `{d['command']}`. Its settings as it reports them "
        f"(`/-/settings.json`): {settings}.",
        "",
        "Equivalent URLs (bench/equivalents.py): the `registry_license` table with `_where=public` (the rows",
        "`published()` shows), our filter on its columns, sorted by `holder_name` as ours is, 50 rows a page, facets",
        "on `status`, `license_type_id` and `jurisdiction_id` where our page shows facets; deep pages by `_next` key;",
        "JSON with `_size=100&_labels=on` for both our JSON export and our API list; the row page for a licence's",
        "detail (the nearest it has). Datasette has no equivalent of the home page, the entity and audit lists or an",
        "entity's page, joined across tables.",
    ]
    check = raw.get("equivalence")
    if check:
        lines += [
            "",
            f"Checked at the start of the run on the first {check['urls']} URLs of the JSON list: the totals agree on "
            f"{check['equal_totals']} of {check['urls']}, and {check['shared_rows']} of {check['rows']} rows are in "
            "both answers (a row may differ where holders' names tie at the end of a page).",
        ]
    for note in raw.get("notes", []):
        lines += ["", f"Note: {note}"]
    return lines


def _csv(raw, options):
    csv = raw.get("csv") or {}
    if not csv:
        return []
    lines = [
        "## CSV export of all licences",
        "",
        *table_head(
            "Server",
            "Status",
            "First byte (ms)",
            "Total (s)",
            "Size (MB)",
            "Worker heap before (MB)",
            "Its peak (MB)",
            left=("Server",),
        ),
    ]
    for key, label in (
        ("ours", f"Ours, N = {raw['entities']:,}"),
        ("ours_small", f"Ours, N = {options.small_entities:,}"),
        ("datasette", "Datasette (`_stream=on&_labels=on`)"),
    ):
        if key in csv:
            r = csv[key]
            lines.append(
                table_row(
                    label,
                    r["status"],
                    f"{r['ttfb_ms']:.0f}",
                    f"{r['total_s']:.1f}",
                    f"{r['mb']:.1f}",
                    f"{r.get('rss_before_mb', 0):.0f}",
                    f"{r.get('peak_mb', 0):.0f}",
                )
            )
    if "ours" in csv and "ours_small" in csv:
        growth = csv["ours"]["peak_mb"] - csv["ours_small"]["peak_mb"]
        lines += [
            "",
            f"The worker's peak private memory grows {growth:.1f} MB from N = {options.small_entities:,} to "
            f"N = {raw['entities']:,}. Private memory is `RssAnon`, sampled every 20 ms while the export runs: the "
            "pages of the database file SQLite reads through its memory map are the kernel's file cache, not the "
            "worker's (bench/servers.py `measure_csv`).",
        ]
    return lines


def _lists(raw):
    lines = ["## URL lists", ""]
    for page in raw["pages"]:
        ds = f"; Datasette `{page['datasette_example']}`" if page.get("datasette_example") else ""
        urls = f"{page['urls']} URL{'s' * (page['urls'] > 1)}"
        passes = page.get("warm_up_passes", {}).get("ours")
        warmed = f" (warmed by {passes} pass{'es' * (passes > 1)} at 8 clients)" if passes else ""
        lines.append(f"- {NAMES[page['key']]}: {urls}{warmed}, e.g. `{page['example']}`{ds}")
    return lines


def render(raw, options):
    sections = [
        _header(raw),
        [METHOD],
        ["## Distinct URLs, cold and warm", "", *_main_table(raw)],
        _targets(raw),
        _floor(raw),
        _cache_hit(raw),
        _datasette(raw),
        _csv(raw, options),
        _lists(raw),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def summary_line(raw, output):
    """The one line a run prints at the end: where the results are, the targets met, the furthest missed."""
    rows = verdicts(raw)
    met = sum(1 for row in rows if row[4])
    missed = sorted((r for r in rows if not r[4] and r[3] is not None), key=lambda r: r[3] / r[2], reverse=True)
    furthest = ", ".join(f"{SHORT[key]} {phase} {ms(p95)} ms (≤ {limit:g})" for key, phase, limit, p95, _ in missed[:3])
    return f"bench: wrote {output} (N = {raw['entities']:,}, {raw['backend']}): targets met {met}/{len(rows)}" + (
        f"; furthest missed, p95 at 1 client: {furthest}" if furthest else ""
    )
