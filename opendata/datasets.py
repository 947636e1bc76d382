"""Open-data releases: the published register as versioned CSV files, a JSON dump and a Frictionless Data Package.

One definition per record type (:data:`RECORD_TYPES`) drives everything: the
rows written, the Table Schema in ``datapackage.json`` and the data
dictionary page at ``/data/dictionary/``. The licences, audits, entities and
regulators files reuse the public exports' row builders (``opendata.exports``),
so their columns are exactly those of ``/licenses.csv`` and friends.

A release is written into a hidden temporary directory next to the others and
renamed into place when complete: a half-written release is never listed.
See ``docs/data.md``.
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
from django.db.models import Prefetch, Q
from django.utils import timezone

from opendata import exports
from registry.models import (
    Audit,
    AuditCitation,
    AuditFact,
    AuditKind,
    AuditStatus,
    Entity,
    EntityCitation,
    EntityFact,
    EntityKind,
    KeyPerson,
    KeyPersonCitation,
    KeyPersonFact,
    License,
    LicenseCitation,
    LicenseFact,
    LicenseStatus,
    Regime,
    Regulator,
    Source,
    SourceKind,
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

# ISO 8601 with reduced precision (2025, 2025-03, 2025-03-14); Table Schema anchors patterns itself.
PARTIAL_DATE_PATTERN = r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?"

MEDIA_TYPES = {"csv": "text/csv", "json": "application/json"}


# ---------------------------------------------------------------------------
# Definitions: one per column, one per record type
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a CSV file (and key of a JSON record), as the Table Schema and the dictionary show it."""

    name: str
    description: str
    example: str = ""
    type: str = "string"
    required: bool = False
    enum: tuple[str, ...] = ()
    pattern: str = ""
    list: bool = False  # joined with "; " in CSV, an array in JSON

    def table_schema(self) -> dict:
        description = self.description
        if self.list:
            description += ' In CSV, values are joined with "; "; in the JSON dump, an array.'
        schema = {"name": self.name, "type": self.type, "description": description}
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.pattern:
            constraints["pattern"] = self.pattern
        if constraints:
            schema["constraints"] = constraints
        return schema

    @property
    def constraint_notes(self) -> list[str]:
        """The constraints in words, for the dictionary page."""
        notes = []
        if self.required:
            notes.append("always present")
        if self.enum:
            notes.append("one of " + ", ".join(self.enum))
        if self.pattern == PARTIAL_DATE_PATTERN:
            notes.append("YYYY, YYYY-MM or YYYY-MM-DD")
        elif self.pattern:
            notes.append(f"matches {self.pattern}")
        if self.list:
            notes.append('a list ("; " in CSV)')
        return notes


@dataclass(frozen=True)
class RecordType:
    """A record type written as one CSV file, and its part of the JSON dump."""

    name: str  # the resource name and file stem: licenses → licenses.csv
    title: str
    description: str
    columns: tuple[Column, ...]
    rows: Callable[[object], Iterator[dict]]  # site → rows (plain values; lists stay lists)
    count: Callable[[], int]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[tuple[str, str, str], ...] = ()  # (column, resource, column); resource "" is itself
    notes: tuple[str, ...] = field(default=())

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

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


def _enum(choices) -> tuple[str, ...]:
    return tuple(choices.values)


def _text(name, description, example="", **kwargs):
    return Column(name, description, example, **kwargs)


def _partial_date(name, what, example="", example_display=""):
    """The two columns of a partial date: its ISO value at the source's precision, and as the site shows it."""
    return (
        Column(
            name,
            f"{what}, as precise as the source: YYYY, YYYY-MM or YYYY-MM-DD (the precision is the length: "
            "4 characters for a year, 7 for a month, 10 for a day). Empty when no source gives it.",
            example,
            pattern=PARTIAL_DATE_PATTERN,
        ),
        Column(
            f"{name}_display", f"{what}, as the site shows it; never more precise than the source.", example_display
        ),
    )


def _url(path_example):
    return Column(
        "url",
        "The record's page on the site (a path such as /licenses/… when the release was written without --base-url).",
        path_example,
        required=True,
    )


def _natural_key(example, what):
    """The key of a record type that has no slug (key people): a slug-keyed record's natural key is its slug."""
    return Column(
        "natural_key",
        f"The key the fixtures, the admin and citations.csv use: {what}. The parts are joined "
        'with "; " in CSV; in the JSON dump it is an array.',
        example,
        required=True,
    )


def _slug(example):
    return Column(
        "slug", "Permanent identifier of the record (its address on the site); never reused.", example, required=True
    )


def _jurisdiction(what, example="", example_name="", required=False):
    return (
        Column(
            "jurisdiction",
            f"{what}: ISO 3166-1 alpha-2 country code, ISO 3166-2 subdivision code (AE-DU) or area code (EU, EEA).",
            example,
            required=required,
        ),
        Column("jurisdiction_name", "The jurisdiction's common English name.", example_name, required=required),
    )


SOURCES_COLUMN = Column(
    "sources",
    "Pages on the site of the published sources cited for this record (sources.csv; what each supports is in "
    "citations.csv).",
    "/sources/okx-compliance-overview-article/",
    list=True,
)


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


class Site:
    """Stands in for the request the export row builders use to make absolute URLs."""

    def __init__(self, base_url: str = ""):
        self.base_url = base_url.rstrip("/")

    def build_absolute_uri(self, location: str) -> str:
        return f"{self.base_url}{location}"


def _iterate(queryset):
    return queryset.iterator(chunk_size=CHUNK_SIZE)


def _published_citations(model):
    # The dataset never carries a source's full text: sources.csv gives its digest and page instead.
    return model.objects.published().select_related("source").defer("source__archived_text", "source__notes")


def entity_queryset():
    return (
        Entity.objects.published()
        .select_related("parent", "jurisdiction")
        .prefetch_related("aliases", Prefetch("citations", queryset=_published_citations(EntityCitation)))
        .order_by("slug")
    )


def regulator_queryset():
    return (
        Regulator.objects.published()
        .select_related("jurisdiction")
        .prefetch_related(Prefetch("regimes", queryset=Regime.objects.published()))
        .order_by("slug")
    )


def regime_queryset():
    return Regime.objects.published().select_related("jurisdiction").prefetch_related("license_types").order_by("slug")


def license_queryset():
    return (
        License.objects.published()
        .select_related("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
        .prefetch_related(
            "passported_to", "activities", Prefetch("citations", queryset=_published_citations(LicenseCitation))
        )
        .order_by("slug")
    )


def audit_queryset():
    return (
        Audit.objects.published()
        .with_status()
        .select_related("subject", "standard", "auditor")
        .prefetch_related(Prefetch("citations", queryset=_published_citations(AuditCitation)))
        .order_by("slug")
    )


def source_queryset():
    return Source.objects.published().defer("archived_text", "notes").order_by("slug")


def key_person_queryset():
    return KeyPerson.objects.published().select_related("entity").order_by("entity__slug", "name", "role")


# Each citation kind: (record_type, citation model, published targets, ordering by the target's key).
CITATION_KINDS = (
    ("entity", EntityCitation, Entity, ("entity__slug",)),
    ("license", LicenseCitation, License, ("license__slug",)),
    ("audit", AuditCitation, Audit, ("audit__slug",)),
    ("key_person", KeyPersonCitation, KeyPerson, ("key_person__entity__slug", "key_person__name", "key_person__role")),
)


def citation_querysets():
    """Citations of published sources for published records, one queryset per kind."""
    for record_type, model, target_model, order in CITATION_KINDS:
        target = model.TARGET_FIELD
        related = f"{target}__entity" if record_type == "key_person" else target
        queryset = (
            _published_citations(model)
            .filter(**{f"{target}__in": target_model.objects.published()})
            .select_related(related)
            .order_by(*order, "source__slug", "supports")
        )
        yield record_type, queryset


def _rows(queryset_factory, builder):
    def rows(site):
        for obj in _iterate(queryset_factory()):
            yield builder(site, obj)

    return rows


def _count(queryset_factory):
    return lambda: queryset_factory().count()


def regime_row(site, regime):
    return {
        "url": exports.absolute(site, regime),
        "slug": regime.slug,
        "short_name": regime.short_name,
        "name": regime.name,
        "legal_reference": regime.legal_reference,
        "jurisdiction": regime.jurisdiction.code,
        "jurisdiction_name": regime.jurisdiction.name,
        "official_text": regime.url,
        "description": regime.description,
        "license_types": [license_type.name for license_type in regime.license_types.all()],
    }


def source_row(site, source):
    published_iso, published_display = exports.partial(source.publication_date)
    return {
        "url": exports.absolute(site, source),
        "slug": source.slug,
        "title": source.title,
        "kind": source.kind,
        "kind_display": source.get_kind_display(),
        "publisher": source.publisher,
        "address": source.url,
        "published": published_iso,
        "published_display": published_display,
        "retrieved_on": source.retrieved_on,
        "archived": bool(source.sha256),
        "sha256": source.sha256,
    }


def key_person_row(site, person):
    started_iso, started_display = exports.partial(person.started)
    ended_iso, ended_display = exports.partial(person.ended)
    return {
        "natural_key": list(person.natural_key()),
        "entity": person.entity.name,
        "entity_slug": person.entity.slug,
        "entity_url": exports.absolute(site, person.entity),
        "name": person.name,
        "role": person.role,
        "started": started_iso,
        "started_display": started_display,
        "ended": ended_iso,
        "ended_display": ended_display,
    }


def citation_row(site, record_type, citation):
    target = getattr(citation, citation.TARGET_FIELD)
    page = target.entity if record_type == "key_person" else target
    return {
        "record_type": record_type,
        "record_key": list(target.natural_key()),
        "record_url": exports.absolute(site, page),
        "source_slug": citation.source.slug,
        "source_url": exports.absolute(site, citation.source),
        "supports": citation.supports,
        "supports_display": citation.get_supports_display() if citation.supports else "",
        "quote": citation.quote,
        "locator": citation.locator,
        "states": citation.states,
    }


def citation_rows(site):
    for record_type, queryset in citation_querysets():
        for citation in _iterate(queryset):
            yield citation_row(site, record_type, citation)


def citation_count():
    return sum(queryset.count() for _, queryset in citation_querysets())


def _documented(builder, documented: Iterable[Column]) -> tuple[Column, ...]:
    """The export's own columns, in its order, with their documentation.

    A column the export gains before it is documented here still gets written
    (with an empty description, which the tests catch) rather than dropped.
    """
    docs = {column.name: column for column in documented}
    return tuple(docs.get(name, Column(name, "")) for name in builder.columns)


SUPPORTS = tuple(
    dict.fromkeys(
        [*LicenseFact.values, *AuditFact.values, *EntityFact.values, *KeyPersonFact.values],
    )
)

RECORD_TYPES: tuple[RecordType, ...] = (
    RecordType(
        name="entities",
        title="Entities",
        description="Organisations the register speaks of: groups, their affiliates, companies, audit firms.",
        columns=_documented(
            exports.entity_row,
            [
                _url("/entities/okx-sg/"),
                _slug("okx-sg"),
                _text("name", "Legal name, or the name sources use.", "OKX SG", required=True),
                _text("kind", "What the organisation is.", "affiliate", required=True, enum=_enum(EntityKind)),
                _text("kind_display", "The kind, in words.", "Affiliate of a group", required=True),
                _text("group", "Name of the group it belongs to (empty for none, or a group not published).", "OKX"),
                _text("group_slug", "Slug of that group in this file.", "okx"),
                *_jurisdiction("Where it is established, when a source says so", "SG", "Singapore"),
                _text(
                    "aliases", "Other names: trading names, former names.", "Trading Name; Former Name Ltd", list=True
                ),
                _text(
                    "lei",
                    "ISO 17442 Legal Entity Identifier, if it has one.",
                    "54930069NLWEIGLHXU42",
                    pattern=r"[0-9A-Z]{18}[0-9]{2}",
                ),
                _text("website", "Its website.", "https://www.okx.com"),
                SOURCES_COLUMN,
            ],
        ),
        rows=_rows(entity_queryset, exports.entity_row),
        count=_count(entity_queryset),
        primary_key=("slug",),
        foreign_keys=(("group_slug", "", "slug"),),
    ),
    RecordType(
        name="regulators",
        title="Regulators",
        description="Authorities that grant licences, and the regimes they supervise.",
        columns=_documented(
            exports.regulator_row,
            [
                _url("/regulators/mas/"),
                _slug("mas"),
                _text("name", "The authority's name.", "Monetary Authority of Singapore", required=True),
                _text("abbreviation", "Its usual abbreviation.", "MAS"),
                *_jurisdiction("Where it is the authority", "SG", "Singapore", required=True),
                _text(
                    "regimes", "Short names of the published regimes it supervises (regimes.csv).", "PS Act", list=True
                ),
                _text("website", "Its website.", "https://www.mas.gov.sg"),
            ],
        ),
        rows=_rows(regulator_queryset, exports.regulator_row),
        count=_count(regulator_queryset),
        primary_key=("slug",),
    ),
    RecordType(
        name="regimes",
        title="Regimes",
        description="Legal frameworks licences are granted under.",
        columns=(
            _url("/regimes/mica/"),
            _slug("mica"),
            _text("short_name", "As commonly written.", "MiCA", required=True),
            _text("name", "Full name.", "Markets in Crypto-Assets Regulation", required=True),
            _text("legal_reference", "The legal instrument.", "Regulation (EU) 2023/1114"),
            *_jurisdiction("Where the regime applies", "EU", "European Union", required=True),
            _text("official_text", "Address of the official text.", "https://eur-lex.europa.eu/eli/reg/2023/1114/oj"),
            _text("description", "What the regime covers.", "The EU's framework for crypto-assets…"),
            _text(
                "license_types",
                "Names of the kinds of licence the regime defines.",
                "Crypto-asset service provider (CASP) authorisation",
                list=True,
            ),
        ),
        rows=_rows(regime_queryset, regime_row),
        count=_count(regime_queryset),
        primary_key=("slug",),
    ),
    RecordType(
        name="licenses",
        title="Licences",
        description="Licences, authorisations and registrations held by entities under a regime.",
        columns=_documented(
            exports.license_row,
            [
                _url("/licenses/okx-mica-casp/"),
                _slug("okx-mica-casp"),
                _text("holder", "Name of the entity the licence is granted to.", "OKX", required=True),
                _text("holder_slug", "Slug of the holder in entities.csv.", "okx", required=True),
                _text("holder_url", "The holder's page on the site.", "/entities/okx/", required=True),
                _text("regime", "Short name of the regime.", "MiCA", required=True),
                _text("regime_slug", "Slug of the regime in regimes.csv.", "mica", required=True),
                _text(
                    "license_type",
                    "The kind of licence, as the regime names it.",
                    "Crypto-asset service provider (CASP) authorisation",
                    required=True,
                ),
                _text(
                    "license_type_slug", "Slug of the licence type (unique within its regime).", "casp-authorisation"
                ),
                _text(
                    "regulator",
                    "Name of the issuing authority; empty when no source names it.",
                    "Virtual Assets Regulatory Authority",
                ),
                _text("regulator_slug", "Slug of the issuing authority in regulators.csv.", "vara"),
                _text(
                    "granted_in",
                    "Where it was granted (its home jurisdiction): the code of the jurisdiction its source states, "
                    "else of its regime's (EU for a MiFID II licence whose source names no member state). "
                    "ISO 3166-1 alpha-2, ISO 3166-2 (AE-DU) or an area code (EU, EEA).",
                    "MT",
                    required=True,
                ),
                _text("granted_in_name", "That jurisdiction's common English name.", "Malta", required=True),
                _text(
                    "granted_in_stated",
                    "false when no source states the home jurisdiction and the regime's stands in for it.",
                    "true",
                    type="boolean",
                    required=True,
                ),
                _text(
                    "passported_to",
                    "Codes of other jurisdictions where it may be used (EEA for MiCA and MiFID II).",
                    "EEA",
                    list=True,
                ),
                _text("status", "Its status.", "active", required=True, enum=_enum(LicenseStatus)),
                _text("status_display", "The status, in words.", "Active", required=True),
                *_partial_date("granted", "When it was granted", "2025-02", "February 2025"),
                *_partial_date("ended", "When it was revoked, expired or was surrendered", "2026", "2026"),
                _text("activities", "Names of the services it permits.", "Spot trading", list=True),
                _text(
                    "client_scope",
                    "Client types it may serve: retail, professional, institutional (empty when no source says).",
                    "institutional",
                    list=True,
                ),
                _text("reference_number", "The regulator's reference, when known.", "C-123456"),
                _text(
                    "conditions",
                    "Restrictions or conditions, as the source states them.",
                    "Retail clients: the source says qualified retail clients.",
                ),
                SOURCES_COLUMN,
            ],
        ),
        rows=_rows(license_queryset, exports.license_row),
        count=_count(license_queryset),
        primary_key=("slug",),
        foreign_keys=(
            ("holder_slug", "entities", "slug"),
            ("regime_slug", "regimes", "slug"),
            ("regulator_slug", "regulators", "slug"),
        ),
    ),
    RecordType(
        name="audits",
        title="Audits and certifications",
        description="Certifications, attestation reports, security audits and proof-of-reserves verifications.",
        columns=_documented(
            exports.audit_row,
            [
                _url("/audits/okx-iso-iec-27001-2025-05/"),
                _slug("okx-iso-iec-27001-2025-05"),
                _text("subject", "Name of the entity audited or certified.", "OKX", required=True),
                _text("subject_slug", "Slug of the subject in entities.csv.", "okx", required=True),
                _text("subject_url", "The subject's page on the site.", "/entities/okx/", required=True),
                _text("kind", "What kind of audit it is.", "certification", required=True, enum=_enum(AuditKind)),
                _text("kind_display", "The kind, in words.", "Certification", required=True),
                _text("standard", "The standard it was made against; empty for a bespoke audit.", "ISO/IEC 27001"),
                _text("standard_slug", "Slug of the standard.", "iso-iec-27001"),
                _text(
                    "auditor",
                    "Name of the audit firm or certification body; empty when no source names it.",
                    "SlowMist",
                ),
                _text("auditor_slug", "Slug of the auditor in entities.csv.", "slowmist"),
                _text(
                    "scope",
                    "What was audited, as the source states it.",
                    "Independent verification of OKX's proof-of-reserves (POR) report.",
                ),
                *_partial_date("issued", "When the report or certificate was issued", "2025-05", "May 2025"),
                *_partial_date(
                    "period_start", "Start of the period covered, or of an ongoing engagement", "2023", "2023"
                ),
                *_partial_date("period_end", "End of the period covered", "2024-06-30", "30 June 2024"),
                *_partial_date("valid_until", "When a certificate expires, if stated", "2028-05", "May 2028"),
                _text(
                    "ongoing",
                    "true for an open-ended engagement (it has a start and no end).",
                    "false",
                    type="boolean",
                    required=True,
                ),
                _text("reference", "Certificate or report number, if known.", "IS 123456"),
                _text(
                    "status",
                    "On the day the release was written: current; superseded (a later report of the same standard "
                    "for the same subject had been issued); expired (past valid_until); or not_yet_issued.",
                    "current",
                    required=True,
                    enum=_enum(AuditStatus),
                ),
                _text("status_display", "The status, in words.", "Current", required=True),
                _text(
                    "superseded_by",
                    "The page of the later report that superseded this one; empty unless the status is superseded.",
                    "/audits/okx-soc-2-type-ii-2024-07/",
                ),
                SOURCES_COLUMN,
            ],
        ),
        rows=_rows(audit_queryset, exports.audit_row),
        count=_count(audit_queryset),
        primary_key=("slug",),
        foreign_keys=(("subject_slug", "entities", "slug"), ("auditor_slug", "entities", "slug")),
    ),
    RecordType(
        name="sources",
        title="Sources",
        description="Documents facts are taken from (metadata only; the archived text is on each source's page).",
        columns=(
            _url("/sources/okx-compliance-overview-article/"),
            _slug("okx-compliance-overview-article"),
            _text(
                "title",
                "Title as published; a title in [square brackets] was supplied by the register.",
                "[OKX's compliance licences and security certifications: an overview]",
                required=True,
            ),
            _text("kind", "What kind of document it is.", "article", required=True, enum=_enum(SourceKind)),
            _text("kind_display", "The kind, in words.", "Article", required=True),
            _text("publisher", "Who published it.", "AiCoin (aicoin.com)"),
            _text("address", "Where it was published, if online.", "https://news.example/okx-licences"),
            *_partial_date("published", "When it was published", "2025-03", "March 2025"),
            _text("retrieved_on", "When the register took its copy (YYYY-MM-DD).", "2025-03-14", type="date"),
            _text(
                "archived",
                "true when the site keeps an archived copy of its text.",
                "true",
                type="boolean",
                required=True,
            ),
            _text(
                "sha256",
                "SHA-256 of the archived text (UTF-8), to check a copy against.",
                "b0f4d079e8b8d5b9388d45cdab9600b61643254eb692670015bb09b3da1f3376",
                pattern="[0-9a-f]{64}",
            ),
        ),
        rows=_rows(source_queryset, source_row),
        count=_count(source_queryset),
        primary_key=("slug",),
    ),
    RecordType(
        name="citations",
        title="Citations",
        description="Which source supports which record, and which fact of it, with the supporting quote.",
        columns=(
            _text(
                "record_type",
                "The kind of record cited: its row is in entities.csv, licenses.csv, audits.csv or key_people.csv.",
                "license",
                required=True,
                enum=tuple(kind for kind, *_ in CITATION_KINDS),
            ),
            _text(
                "record_key",
                "The cited record's key in that file: its slug (in key_people.csv, its natural_key).",
                "okx-mica-casp",
                required=True,
            ),
            _text("record_url", "The cited record's page (a key person's entity page).", "/licenses/okx-mica-casp/"),
            _text(
                "source_slug", "Slug of the source in sources.csv.", "okx-compliance-overview-article", required=True
            ),
            _text("source_url", "The source's page.", "/sources/okx-compliance-overview-article/", required=True),
            _text(
                "supports",
                "The field of the record the citation supports; empty for the record as a whole.",
                "granted_on",
                enum=SUPPORTS,
            ),
            _text("supports_display", "That field, in words.", "Date granted"),
            _text(
                "quote",
                "The sentence in the source that supports the fact, verbatim.",
                "In February 2025, OKX became one of the first cryptocurrency exchanges…",
            ),
            _text("locator", "Where in the source: section, page, row.", "paragraph 3"),
            _text(
                "states",
                "What the source says for that fact, as written, so that disagreeing sources can be compared.",
                "February 2025",
            ),
        ),
        rows=citation_rows,
        count=citation_count,
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
        columns=(
            _natural_key("okx-sg; Gracie Lin; CEO", "the entity's slug, the person's name and the role"),
            _text("entity", "Name of the entity.", "OKX SG", required=True),
            _text("entity_slug", "Slug of the entity in entities.csv.", "okx-sg", required=True),
            _text("entity_url", "The entity's page, where the person is shown.", "/entities/okx-sg/", required=True),
            _text("name", "The person's name.", "Gracie Lin", required=True),
            _text("role", "The role, as the source gives it.", "CEO", required=True),
            *_partial_date("started", "When they took the role", "2024-09", "September 2024"),
            *_partial_date("ended", "When they left it", "2026", "2026"),
        ),
        rows=_rows(key_person_queryset, key_person_row),
        count=_count(key_person_queryset),
        primary_key=("entity_slug", "name", "role"),
        foreign_keys=(("entity_slug", "entities", "slug"),),
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
    if isinstance(value, datetime.date):
        return value.isoformat()
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
                    dump.write(("," if count else "") + "\n" + encoder.encode(row))
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
        resources = [
            _resource(
                work / record_type.filename,
                record_type.name,
                "csv",
                title=record_type.title,
                description=record_type.description,
                dialect={"delimiter": ",", "header": True},
                schema=record_type.table_schema(),
            )
            for record_type in RECORD_TYPES
        ]
        resources.append(
            _resource(
                work / DUMP_FILENAME,
                "registry",
                "json",
                title="Every record, as JSON",
                description=(
                    'The records of every CSV file in one JSON document: {"records": {"<file name>": [records]}}, '
                    "with lists as arrays, booleans as true/false and natural keys as arrays."
                ),
            )
        )
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
