"""Open-data releases: the published register as versioned CSV files, a JSON dump and a Frictionless Data Package.

One serializer per record type (``opendata.serializers``) drives everything: the rows written, the Table
Schema in ``datapackage.json`` and the data dictionary page at ``/data/dictionary/`` (each column's name,
description and example come from the serializer's fields). The licences, audits, entities and regulators
files are the tables of the serializers the API and the live exports use, so their columns are exactly
those of ``/licenses.csv`` and friends.

A release is written into a hidden temporary directory next to the others and renamed into place when
complete: a half-written release is never listed. See ``docs/data.md``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from opendata import exports
from opendata.serializers import (
    AuditSerializer,
    CitationRowSerializer,
    CryptoAssetSerializer,
    EntitySerializer,
    KeyPersonSerializer,
    LicenseSerializer,
    RegimeSerializer,
    RegulatorSerializer,
    ReserveFigureSerializer,
    SourceSerializer,
    WhitePaperSerializer,
)
from opendata.tables import Column, Table
from registry.models import (
    Audit,
    AuditCitation,
    Entity,
    EntityCitation,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    ReserveSnapshot,
    Source,
    WhitePaper,
    WhitePaperCitation,
)

CHUNK_SIZE = 500
PACKAGE_NAME = "compliance-registry"
PACKAGE_TITLE = "Compliance Registry: published licences, audits and certifications"
DUMP_FILENAME = "registry.json"
DESCRIPTOR_FILENAME = "datapackage.json"

LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0 International",
}
ESMA_ATTRIBUTION = "Source data (c) ESMA, interim MiCA register"
REGISTER_SOURCE = "Compliance Registry curators, from the published sources each record cites (sources.csv)"

# A release's directory name: also its version, a URL segment and a path component, so nothing that could
# climb out of the releases directory ("..", "/") or hide it (a leading dot marks work in progress).
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")

MEDIA_TYPES = {"csv": "text/csv", "json": "application/json"}


# ---------------------------------------------------------------------------
# Record types: one file each
# ---------------------------------------------------------------------------


class Site:
    """Stands in for the request the tables use to make absolute URLs (site paths without a base URL)."""

    def __init__(self, base_url: str = ""):
        self.base_url = base_url.rstrip("/")

    def build_absolute_uri(self, location: str) -> str:
        return f"{self.base_url}{location}"


@dataclass(frozen=True)
class RecordType:
    """A record type written as one CSV file, and its part of the JSON dump.

    ``records`` gives the QuerySets whose rows the file holds, one after the other, in the file's order.
    """

    name: str  # the resource name and file stem: licenses → licenses.csv
    title: str
    description: str
    serializer: type
    records: Callable[[], Iterable[QuerySet]]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[tuple[str, str, str], ...] = ()  # (column, resource, column); resource "" is itself
    notes: tuple[str, ...] = field(default=())

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def table(self) -> Table:
        return self.serializer.table()

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.table.columns

    @property
    def column_names(self) -> list[str]:
        return self.table.names

    def rows(self, site) -> Iterator[dict]:
        """Every row, a batch of ``CHUNK_SIZE`` records at a time (a fixed number of queries per batch)."""
        for queryset in self.records():
            for batch in self.table.read(site, queryset, CHUNK_SIZE):
                yield from batch

    def count(self) -> int:
        return sum(queryset.count() for queryset in self.records())

    def table_schema(self) -> dict:
        schema = {"fields": [column.table_schema() for column in self.columns]}
        if self.primary_key:
            schema["primaryKey"] = list(self.primary_key)
        if self.foreign_keys:
            schema["foreignKeys"] = [
                {"fields": [column], "reference": {"resource": resource, "fields": [target]}}
                for column, resource, target in self.foreign_keys
            ]
        return schema


def published_by_slug(*, serializer, **kwargs) -> RecordType:
    """The record type of ``serializer``'s model's published records, keyed and ordered by slug."""
    model = serializer.Meta.model

    def records():
        return [model.objects.published().order_by("slug")]

    return RecordType(serializer=serializer, records=records, primary_key=("slug",), **kwargs)


def _published_citations(model):
    # The dataset never carries a source's full text: sources.csv gives its digest and page instead.
    return model.objects.published().select_related("source").defer("source__archived_text", "source__notes")


# Each citation kind: (citation model, published targets, ordering by the target's key).
CITATION_KINDS = (
    (EntityCitation, Entity, ("entity__slug",)),
    (LicenseCitation, License, ("license__slug",)),
    (AuditCitation, Audit, ("audit__slug",)),
    (KeyPersonCitation, KeyPerson, ("key_person__entity__slug", "key_person__name", "key_person__role")),
    (WhitePaperCitation, WhitePaper, ("white_paper__slug",)),
)


def citation_querysets():
    """Citations of published sources for published records, one queryset per kind."""
    querysets = []
    for model, target_model, order in CITATION_KINDS:
        target = model.TARGET_FIELD
        related = f"{target}__entity" if target == "key_person" else target
        querysets.append(
            _published_citations(model)
            .filter(**{f"{target}__in": target_model.objects.published()})
            .select_related(related)
            .order_by(*order, "source__slug", "supports")
        )
    return querysets


def reserve_figures():
    return [ReserveSnapshot.objects.published().order_by("audit__slug", "as_of", "asset")]


def key_people():
    return [KeyPerson.objects.published().select_related("entity").order_by("entity__slug", "name", "role")]


RECORD_TYPES: tuple[RecordType, ...] = (
    published_by_slug(
        name="entities",
        title="Entities",
        description="Organisations the register speaks of: groups, their affiliates, companies, audit firms.",
        serializer=EntitySerializer,
        foreign_keys=(("group_slug", "", "slug"),),
    ),
    published_by_slug(
        name="regulators",
        title="Regulators",
        description="Authorities that grant licences, and the regimes they supervise.",
        serializer=RegulatorSerializer,
    ),
    published_by_slug(
        name="regimes",
        title="Regimes",
        description="Legal frameworks licences are granted under.",
        serializer=RegimeSerializer,
    ),
    published_by_slug(
        name="licenses",
        title="Licences",
        description="Licences, authorisations and registrations held by entities under a regime.",
        serializer=LicenseSerializer,
        foreign_keys=(
            ("holder_slug", "entities", "slug"),
            ("regime_slug", "regimes", "slug"),
            ("regulator_slug", "regulators", "slug"),
        ),
    ),
    published_by_slug(
        name="audits",
        title="Audits and certifications",
        description="Certifications, attestation reports, security audits and proof-of-reserves verifications.",
        serializer=AuditSerializer,
        foreign_keys=(("subject_slug", "entities", "slug"), ("auditor_slug", "entities", "slug")),
    ),
    RecordType(
        name="reserve_figures",
        title="Proof-of-reserves figures",
        description="Each proof-of-reserves report's figures: per asset when given, and its totals in US dollars.",
        serializer=ReserveFigureSerializer,
        records=reserve_figures,
        primary_key=("audit_slug", "as_of", "asset"),
        foreign_keys=(("audit_slug", "audits", "slug"), ("source_slug", "sources", "slug")),
        notes=("Only figures of published audits that cite a published source are included.",),
    ),
    published_by_slug(
        name="sources",
        title="Sources",
        description="Documents facts are taken from (metadata only; the archived text is on each source's page).",
        serializer=SourceSerializer,
    ),
    RecordType(
        name="citations",
        title="Citations",
        description="Which source supports which record, and which fact of it, with the supporting quote.",
        serializer=CitationRowSerializer,
        records=citation_querysets,
        foreign_keys=(("source_slug", "sources", "slug"),),
        notes=(
            "A citation is identified by record_type, record_key, source_slug and supports together.",
            "Only citations of published sources for published records are included.",
        ),
    ),
    RecordType(
        name="key_people",
        title="Key people",
        description="People in named roles at entities.",
        serializer=KeyPersonSerializer,
        records=key_people,
        primary_key=("entity_slug", "name", "role"),
        foreign_keys=(("entity_slug", "entities", "slug"),),
    ),
    published_by_slug(
        name="crypto_assets",
        title="Crypto-assets",
        description="Crypto-assets (tokens) as ISO 24165 identifies them, each described by a published white paper.",
        serializer=CryptoAssetSerializer,
    ),
    published_by_slug(
        name="white_papers",
        title="Crypto-asset white papers",
        description="White papers notified under MiCA Titles II, III and IV, as ESMA's interim register lists them.",
        serializer=WhitePaperSerializer,
        foreign_keys=(
            ("crypto_asset", "crypto_assets", "slug"),
            ("offeror_slug", "entities", "slug"),
            ("filed_by_slug", "entities", "slug"),
            ("authority_slug", "regulators", "slug"),
        ),
    ),
)

RECORD_TYPES_BY_NAME = {record_type.name: record_type for record_type in RECORD_TYPES}


def esma_data_present() -> bool:
    """Whether any published record comes from ESMA, whose attribution the licence then requires."""
    return (
        Source.objects.published()
        .filter(Q(publisher__icontains="ESMA") | Q(publisher__icontains="European Securities and Markets Authority"))
        .exists()
    )


# ---------------------------------------------------------------------------
# Writing a release
# ---------------------------------------------------------------------------


class ReleaseError(Exception):
    """A release cannot be written as asked (a bad or taken version)."""


def releases_dir() -> Path:
    return Path(settings.REGISTRY_RELEASES_DIR)


def valid_version(version: str) -> bool:
    return bool(VERSION_RE.match(version)) and ".." not in version


def next_version(root: Path, day: datetime.date) -> str:
    """Today's date, then ``<date>-2``, ``<date>-3``… when a release of that day exists."""
    base = day.isoformat()
    version, n = base, 1
    while (root / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def csv_value(value) -> str:
    """As the live CSV exports write it (lists joined with "; ", booleans true/false, formula-safe)."""
    return exports.csv_cell(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _resource(path: Path, name: str, fmt: str, **extra) -> dict:
    return {
        "name": name,
        "path": path.name,
        "profile": "tabular-data-resource" if fmt == "csv" else "data-resource",
        "format": fmt,
        "mediatype": MEDIA_TYPES[fmt],
        "encoding": "utf-8",
        "bytes": path.stat().st_size,
        "hash": f"sha256:{_sha256(path)}",
        **extra,
    }


def descriptor(version: str, created: datetime.datetime, resources: list[dict], base_url: str, esma: bool) -> dict:
    sources = [{"title": REGISTER_SOURCE, **({"path": f"{base_url}/sources/"} if base_url else {})}]
    if esma:
        sources.append({"title": ESMA_ATTRIBUTION})
    package = {
        "profile": "data-package",
        "name": PACKAGE_NAME,
        "title": PACKAGE_TITLE,
        "description": (
            "Every published record of the Compliance Registry: licences, audits and certifications of "
            "crypto-asset firms, each citing its sources. Dates are as precise as their source (see the "
            "data dictionary)."
        ),
        "version": version,
        "created": created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "licenses": [LICENSE],
        "sources": sources,
        "keywords": ["MiCA", "crypto-assets", "licences", "audits", "certifications", "regulation"],
        "resources": resources,
    }
    if base_url:
        package["homepage"] = f"{base_url}/data/"
    return package


@dataclass
class Progress:
    """Counts written rows; on a terminal, redraws one line with the rate and the time left."""

    total: int
    write: Callable[[str], None] | None = None  # None: stay quiet until the summary
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _shown: float = 0.0

    def advance(self, label: str) -> None:
        self.done += 1
        now = time.monotonic()
        if self.write is None or (now - self._shown < 0.2 and self.done < self.total):
            return
        self._shown = now
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else 0
        self.write(f"\r{label}: {self.done:,}/{self.total:,} rows · {rate:,.0f} rows/s · {left:,.0f}s left ")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Release:
    version: str
    path: Path
    rows: dict[str, int]
    descriptor: dict
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_bytes(self) -> int:
        return sum(resource["bytes"] for resource in self.descriptor["resources"])


def _write_files(directory: Path, site: Site, progress: Progress) -> dict[str, int]:
    """Write every CSV and the JSON dump in one pass over the database; return the row count per file."""
    counts = {}
    encoder = DjangoJSONEncoder(ensure_ascii=False)
    with (directory / DUMP_FILENAME).open("w", encoding="utf-8", newline="\n") as dump:
        # Streamed by hand so that no record type is ever held in memory whole.
        dump.write(f'{{"name": {json.dumps(PACKAGE_NAME)}, "license": {json.dumps(LICENSE["name"])}, "records": {{')
        for index, record_type in enumerate(RECORD_TYPES):
            columns = record_type.column_names
            dump.write(f"{',' if index else ''}\n{json.dumps(record_type.name)}: [")
            count = 0
            with (directory / record_type.filename).open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                for row in record_type.rows(site):
                    writer.writerow([csv_value(row.get(column)) for column in columns])
                    dump.write(("," if count else "") + "\n" + encoder.encode(record_type.table.as_json(row)))
                    count += 1
                    progress.advance(record_type.name)
            dump.write("\n]")
            counts[record_type.name] = count
        dump.write("\n}}\n")
    return counts


@contextlib.contextmanager
def _snapshot():
    """One consistent view of the register for the whole export, where the database can give it cheaply.

    On PostgreSQL a read-only REPEATABLE READ transaction: every file sees the
    same records, so a record published or withdrawn mid-export cannot leave a
    licence pointing at an entity missing from entities.csv. SQLite is left in
    autocommit: its transactions here take the write lock (IMMEDIATE mode) and
    would block curators for the length of the export.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _write_descriptor(directory: Path, package: dict) -> None:
    with (directory / DESCRIPTOR_FILENAME).open("w", encoding="utf-8", newline="\n") as handle:
        json.dump(package, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def _resources(directory: Path) -> list[dict]:
    """The descriptor's resources: every CSV file with its Table Schema, then the JSON dump."""
    resources = [
        _resource(
            directory / record_type.filename,
            record_type.name,
            "csv",
            title=record_type.title,
            description=record_type.description,
            dialect={"delimiter": ",", "header": True},
            schema=record_type.table_schema(),
        )
        for record_type in RECORD_TYPES
    ]
    dump = _resource(
        directory / DUMP_FILENAME,
        "registry",
        "json",
        title="Every record, as JSON",
        description=(
            'The records of every CSV file in one JSON document: {"records": {"<file name>": [records]}}, '
            "with lists as arrays, booleans as true/false and natural keys as arrays."
        ),
    )
    return [*resources, dump]


def write_release(
    root: Path,
    version: str | None = None,
    base_url: str = "",
    progress_write: Callable[[str], None] | None = None,
    now: datetime.datetime | None = None,
) -> Release:
    """Write a release of the published register into ``root/<version>/`` and return what was written.

    ``version`` defaults to today's date, suffixed ``-2``, ``-3``… when taken.
    An explicit version that exists already raises :class:`ReleaseError`
    (a release, once listed, never changes).
    """
    root = Path(root)
    if version is not None and not valid_version(version):
        raise ReleaseError(
            f"{version!r} is not a usable version: letters, digits, '.', '_' and '-', starting with a letter or digit."
        )
    if version is not None and (root / version).exists():
        raise ReleaseError(f"Release {version} exists already in {root}; releases are never overwritten.")
    root.mkdir(parents=True, exist_ok=True)
    now = now or timezone.now()
    site = Site(base_url)
    work = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        with _snapshot():
            progress = Progress(total=sum(record_type.count() for record_type in RECORD_TYPES), write=progress_write)
            counts = _write_files(work, site, progress)
            esma = esma_data_present()
        resources = _resources(work)
        # mkdtemp makes the directory private; a release is published for the web server to read.
        os.chmod(work, 0o755)  # noqa: S103
        while True:
            chosen = version or next_version(root, timezone.localtime(now).date())
            package = descriptor(chosen, now, resources, site.base_url, esma)
            _write_descriptor(work, package)
            try:
                # rename() is atomic and refuses a non-empty target: a concurrent release keeps its name.
                os.rename(work, root / chosen)
            except OSError as exc:
                if version is not None or not (root / chosen).exists():
                    raise ReleaseError(f"Could not move the release into {root / chosen}: {exc}") from exc
                continue
            break
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Release(chosen, root / chosen, counts, package, progress.elapsed)


# ---------------------------------------------------------------------------
# Reading releases (the /data/ pages)
# ---------------------------------------------------------------------------


@dataclass
class ReleaseFile:
    name: str
    path: str
    format: str
    bytes: int
    sha256: str
    title: str = ""


@dataclass
class PublishedRelease:
    version: str
    created: str
    title: str
    files: list[ReleaseFile]

    @property
    def created_at(self) -> datetime.datetime | None:
        try:
            return datetime.datetime.fromisoformat(self.created.replace("Z", "+00:00"))
        except ValueError:
            return None


def read_descriptor(version: str, root: Path | None = None) -> dict | None:
    """The datapackage.json of release ``version``, or None when there is no such complete release."""
    root = Path(root or releases_dir())
    if not valid_version(version):
        return None
    path = root / version / DESCRIPTOR_FILENAME
    try:
        package = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(package, dict) or not isinstance(package.get("resources"), list):
        return None
    return package


def _files(package: dict) -> list[ReleaseFile]:
    files = []
    for resource in package["resources"]:
        if not isinstance(resource, dict) or not isinstance(resource.get("path"), str):
            continue
        digest = str(resource.get("hash", ""))
        files.append(
            ReleaseFile(
                name=str(resource.get("name", "")),
                path=resource["path"],
                format=str(resource.get("format", "")),
                bytes=resource.get("bytes") if isinstance(resource.get("bytes"), int) else 0,
                sha256=digest.removeprefix("sha256:"),
                title=str(resource.get("title", "")),
            )
        )
    return files


def list_releases(root: Path | None = None) -> list[PublishedRelease]:
    """Complete releases in the releases directory, newest first.

    A directory counts once it holds a readable ``datapackage.json`` and is
    not hidden (releases being written are hidden until renamed into place).
    """
    root = Path(root or releases_dir())
    try:
        names = [entry.name for entry in os.scandir(root) if entry.is_dir()]
    except OSError:
        return []
    releases = []
    for name in names:
        package = read_descriptor(name, root)
        if package is None:
            continue
        releases.append(
            PublishedRelease(
                version=name,
                created=str(package.get("created", "")),
                title=str(package.get("title", "")),
                files=_files(package),
            )
        )

    def newest_first(release):
        # Versions of one day sort by their number: 2025-03-14-10 after 2025-03-14-9.
        natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", release.version)]
        return (release.created, [str(part).zfill(12) for part in natural])

    releases.sort(key=newest_first, reverse=True)
    return releases


def release_file_path(version: str, filename: str, root: Path | None = None) -> tuple[Path, str] | None:
    """The file ``filename`` of release ``version`` and its content type, if the release lists it.

    Only ``datapackage.json`` and the paths its resources name are served, and
    only when they resolve inside the release's own directory: anything else,
    including ``..`` tricks and symbolic links out of it, is None (a 404).
    """
    root = Path(root or releases_dir())
    package = read_descriptor(version, root)
    if package is None:
        return None
    if filename == DESCRIPTOR_FILENAME:
        content_type = "application/json"
    else:
        listed = {file.path: file.format for file in _files(package)}
        if filename not in listed or listed[filename] not in MEDIA_TYPES:
            return None
        content_type = MEDIA_TYPES[listed[filename]]
    directory = (root / version).resolve()
    path = (directory / filename).resolve()
    if not path.is_relative_to(directory) or not path.is_file():
        return None
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    return path, content_type


__all__ = [
    "RECORD_TYPES",
    "Release",
    "ReleaseError",
    "list_releases",
    "release_file_path",
    "write_release",
]
