"""One serializer per record type: the only list of a record's public fields.

The API renders a record with its serializer (``opendata.api``); the CSV and JSON exports
(``opendata.exports``), the dataset releases and their data dictionary (``opendata.datasets``) read the
same serializer as a table (``opendata.tables``): each field says which columns it becomes
(``opendata.fields``). A field's ``help_text`` is both the API schema's description and the dictionary's.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Prefetch, prefetch_related_objects
from rest_framework import serializers

from opendata.fields import (
    SOURCE_PAGE,
    AbsoluteURLField,
    ActivitySerializer,
    AuditRefSerializer,
    Choice,
    CryptoAssetRefSerializer,
    Day,
    Display,
    EntityRefSerializer,
    FindingSerializer,
    Flag,
    JurisdictionRefSerializer,
    LatestReserve,
    LatestReserveDay,
    LatestReserveFlag,
    LatestReserveRatio,
    LicenseTypeSerializer,
    NaturalKeyField,
    Number,
    PartialDateField,
    PublicURLField,
    Ratio,
    RegimeRefSerializer,
    RegulatorRefSerializer,
    RelatedValues,
    ReserveRowSerializer,
    RowList,
    SourceRefSerializer,
    StandardSerializer,
    StatusChangeSerializer,
    SupersededBySerializer,
    Tabular,
    TabularList,
    Text,
    Texts,
    VouchedBy,
    VouchingSerializer,
)
from opendata.tables import Citations, CitedSources, Column, Table, combine, each, join
from registry.models import (
    Accreditation,
    Audit,
    AuditFact,
    AuditFinding,
    AuditKind,
    AuditStatus,
    AuditStatusChange,
    CryptoAsset,
    Entity,
    EntityFact,
    EntityKind,
    KeyPerson,
    KeyPersonFact,
    License,
    LicenseFact,
    LicenseStatus,
    Regime,
    Regulator,
    ReserveSnapshot,
    Source,
    SourceKind,
    TokenKind,
    WhitePaper,
    WhitePaperFact,
    granted_in_field,
    link_supersession,
)

# ---------------------------------------------------------------------------
# Record types
# ---------------------------------------------------------------------------


class TableSerializer(serializers.Serializer):
    """A record type's one serializer: the API's representation and, through :meth:`table`, its rows.

    ``Meta``: ``model``; ``page``, the URL name of its detail page; ``select_related``, the related
    records its fields show; ``expressions``, ``values()`` annotations for the paths that are model
    properties (``granted_in__code``). Used as a field with ``source="*"``, its columns join its parent's.
    """

    in_table = True

    @classmethod
    def table(cls):
        return table_of(cls)

    @classmethod
    def optimise(cls, queryset):
        """``queryset`` joining and prefetching what the fields show: a fixed number of queries per page."""
        return queryset.select_related(*getattr(cls.Meta, "select_related", ())).prefetch_related(*cls.prefetches())

    @classmethod
    def prefetches(cls) -> list:
        """What the fields read through relations, as ``prefetch_related`` takes it."""
        model = cls.Meta.model
        return [
            field.prefetch()
            for field in cls().fields.values()
            if hasattr(field, "prefetch")
            and (getattr(field, "always_prefetch", False) or _is_relation(model, field.source))
        ]

    @classmethod
    def only(cls, *names):
        """This serializer with only the fields ``names``, as declared here: what a page showing a few of a
        record's fields (the HTML licence list) renders, read by ``values()`` as the API's lists are."""
        unknown = set(names) - set(cls._declared_fields)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        # DRF's metaclass leaves out an inherited field set to None.
        left_out = {name: None for name in cls._declared_fields if name not in names}
        return type(f"{cls.__name__}Only", (cls,), {"__module__": cls.__module__, **left_out})

    @classmethod
    def prepare_values(cls, queryset):
        """The QuerySet a table reads a batch's ``values()`` through (an annotation the fields read)."""
        return queryset

    @classmethod
    def prepare_instances(cls, objects):
        """The objects a table reads rows from, given what the fields read that a prefetch cannot give."""
        return objects

    def table_columns(self, prefix):
        prefix = join(prefix, *self.source_attrs)
        fields = [field for field in self.fields.values() if getattr(field, "in_table", False)]
        return [column for field in fields for column in field.table_columns(prefix)]


def _is_relation(model, name):
    """Whether ``name`` is a field of ``model`` (not a value set on the instance, as an audit's supersedes)."""
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def table_of(serializer_class):
    cached = serializer_class.__dict__.get("_table")
    if cached is None:
        cached = Table(serializer_class)
        serializer_class._table = cached
    return cached


SOURCES_HELP = (
    "Pages on the site of the published sources cited for this record (sources.csv; what each supports is in "
    "citations.csv)."
)
SUPPORTS = tuple(
    {
        value: label
        for value, label in [
            *LicenseFact.choices,
            *AuditFact.choices,
            *EntityFact.choices,
            *KeyPersonFact.choices,
            *WhitePaperFact.choices,
        ]
    }.items()
)


class CitationList(TabularList):
    """A record's citations; in a table, ``sources``: the pages of the published sources cited, each once."""

    def citation_model(self):
        return self.parent.Meta.model._meta.get_field(self.source).related_model

    def table_columns(self, prefix):
        def read(record, link):
            return [link(SOURCE_PAGE, slug) for slug in record["sources"]]

        loader = CitedSources(self.citation_model())
        return [
            Column(
                "sources",
                SOURCES_HELP,
                "/sources/okx-compliance-overview-article/",
                list=True,
                read=read,
                loader=loader,
            )
        ]

    def api_part(self, prefix):
        if prefix:
            return None
        parts = {name: field.api_part("") for name, field in self.child.fields.items()}
        if None in parts.values():
            return None
        part = combine(parts)
        return each(self.field_name, part, Citations(self.citation_model(), part.paths))

    def prefetch(self):
        # Citations of published sources only, without the sources' (large) archived text.
        citations = self.citation_model().objects.published().select_related("source")
        return Prefetch(self.source, queryset=citations.defer("source__archived_text", "source__notes"))


class CitationSerializer(TableSerializer):
    source = SourceRefSerializer(
        columns={"slug": "okx-compliance-overview-article", "url": "/sources/okx-compliance-overview-article/"},
        help_text="The source cited.",
    )
    supports = Choice(
        choices=SUPPORTS,
        allow_blank=True,
        help_text="The field of the record the citation supports; empty for the record as a whole.",
        example="granted_on",
    )
    supports_display = Display(
        of="supports", choices=SUPPORTS, allow_blank=True, help_text="That field, in words.", example="Date granted"
    )
    quote = Text(
        allow_blank=True,
        help_text="The sentence in the source that supports the fact, verbatim.",
        example="In February 2025, OKX became one of the first cryptocurrency exchanges…",
    )
    locator = Text(allow_blank=True, help_text="Where in the source: section, page, row.", example="paragraph 3")
    states = Text(
        allow_blank=True,
        help_text="What the source says for the fact, as written, so that disagreeing sources can be compared.",
        example="February 2025",
    )

    class Meta:
        list_serializer_class = CitationList


CITED_RECORD_TYPES = (
    ("entity", "Entity"),
    ("license", "Licence"),
    ("audit", "Audit"),
    ("key_person", "Key person"),
    ("white_paper", "White paper"),
)


class CitationRowSerializer(TableSerializer):
    """One citation of a published source for a published record (a release's citations.csv).

    Reads citations of any kind (with their cited record joined), given ``record_type`` (the kind, which
    is the citation's ``TARGET_FIELD``), ``cited`` and ``cited_page`` (a key person's is their entity's).
    """

    record_type = Choice(
        choices=CITED_RECORD_TYPES,
        help_text="The kind of record cited: its row is in entities.csv, licenses.csv, audits.csv, key_people.csv "
        "or white_papers.csv.",
        example="license",
    )
    record_key = NaturalKeyField(
        source="cited",
        help_text="The cited record's key in that file: its slug (in key_people.csv, its natural_key).",
        example="okx-mica-casp",
    )
    record_url = PublicURLField(
        source="cited_page",
        help_text="The cited record's page (a key person's entity page).",
        example="/licenses/okx-mica-casp/",
    )
    citation = CitationSerializer(source="*")

    class Meta:
        model = None

    @classmethod
    def prepare_instances(cls, citations):
        for citation in citations:
            cited = getattr(citation, citation.TARGET_FIELD)
            citation.record_type = citation.TARGET_FIELD
            citation.cited = cited
            citation.cited_page = cited.entity if citation.TARGET_FIELD == "key_person" else cited
        return citations


class KeyPersonSerializer(TableSerializer):
    natural_key = NaturalKeyField(
        help_text="The key the fixtures, the admin and citations.csv use: the entity's slug, the person's name "
        'and the role. The parts are joined with "; " in CSV; in the JSON dump it is an array.',
        example="okx-sg; Gracie Lin; CEO",
    )
    entity = EntityRefSerializer(
        columns={"name": "OKX SG", "slug": "okx-sg", "url": "/entities/okx-sg/"}, help_text="The entity."
    )
    name = Text(help_text="The person's name.", example="Gracie Lin")
    role = Text(help_text="The role, as the source gives it.", example="CEO")
    started = PartialDateField(help_text="When they took the role", example=("2024-09", "September 2024"))
    ended = PartialDateField(help_text="When they left it", example=("2026", "2026"))

    class Meta:
        model = KeyPerson
        select_related = ("entity",)


SLUG_HELP = "Permanent identifier of the record (its address on the site); never reused."


def citations_field():
    """A record's citations of published sources: objects in the API; in a table, the sources' pages."""
    return CitationSerializer(
        many=True, help_text="What the published sources cited say, fact by fact. In a table: sources, their pages."
    )


def verified_on_field():
    """When a curator last checked a record: in the API only."""
    return Day(allow_null=True, table=False, help_text="When a curator last checked it against its sources.")


def _published_regimes():
    return Regime.objects.published()


class EntitySerializer(TableSerializer):
    url = PublicURLField(example="/entities/okx-sg/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="okx-sg")
    name = Text(help_text="Legal name, or the name sources use.", example="OKX SG")
    kind = Choice(choices=EntityKind.choices, help_text="What the organisation is.", example="affiliate")
    kind_display = Display(of="kind", choices=EntityKind.choices, example="Affiliate of a group")
    group = EntityRefSerializer(
        source="parent",
        allow_null=True,
        published_only=True,
        columns={"name": "OKX", "slug": "okx"},
        help_text="The group it belongs to; none when it belongs to none, or to a group not published.",
    )
    jurisdiction = JurisdictionRefSerializer(
        allow_null=True,
        columns={"code": "SG", "name": "Singapore"},
        help_text="The jurisdiction where it is established, when a source says so.",
    )
    aliases = RelatedValues(
        help_text="Other names: trading names, former names.", example="Trading Name; Former Name Ltd"
    )
    lei = Text(
        allow_blank=True,
        pattern=r"[0-9A-Z]{18}[0-9]{2}",
        help_text="ISO 17442 Legal Entity Identifier, if it has one.",
        example="54930069NLWEIGLHXU42",
    )
    website = Text(allow_blank=True, help_text="Its website.", example="https://www.okx.com")
    description = Text(allow_blank=True, table=False, help_text="What the organisation does.")
    citations = citations_field()

    class Meta:
        model = Entity
        page = "public:entity-detail"
        select_related = ("parent", "jurisdiction")


class RegulatorSerializer(TableSerializer):
    url = PublicURLField(example="/regulators/mas/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="mas")
    name = Text(help_text="The authority's name.", example="Monetary Authority of Singapore")
    abbreviation = Text(allow_blank=True, help_text="Its usual abbreviation.", example="MAS")
    jurisdiction = JurisdictionRefSerializer(
        columns={"code": "SG", "name": "Singapore"}, help_text="The jurisdiction where it is the authority."
    )
    regimes = RegimeRefSerializer(
        many=True,
        columns={"short_name": "PS Act"},
        queryset=_published_regimes,
        help_text="The published regimes it supervises (regimes.csv).",
    )
    website = Text(allow_blank=True, help_text="Its website.", example="https://www.mas.gov.sg")

    class Meta:
        model = Regulator
        page = "public:regulator-detail"
        select_related = ("jurisdiction",)


class RegimeSerializer(TableSerializer):
    url = PublicURLField(example="/regimes/mica/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="mica")
    short_name = Text(help_text="As commonly written.", example="MiCA")
    name = Text(help_text="Full name.", example="Markets in Crypto-Assets Regulation")
    legal_reference = Text(allow_blank=True, help_text="The legal instrument.", example="Regulation (EU) 2023/1114")
    jurisdiction = JurisdictionRefSerializer(
        columns={"code": "EU", "name": "European Union"},
        help_text="The jurisdiction where the regime applies.",
    )
    official_url = Text(
        source="url",
        allow_blank=True,
        help_text="Address of the official text; may be empty.",
        example="https://eur-lex.europa.eu/eli/reg/2023/1114/oj",
    )
    description = Text(
        allow_blank=True, help_text="What the regime covers.", example="The EU's framework for crypto-assets…"
    )
    license_types = LicenseTypeSerializer(
        many=True,
        columns={"name": "Crypto-asset service provider (CASP) authorisation"},
        help_text="The kinds of licence the regime defines.",
    )

    class Meta:
        model = Regime
        page = "public:regime-detail"
        select_related = ("jurisdiction",)


class LicenseSerializer(TableSerializer):
    url = PublicURLField(example="/licenses/okx-mica-casp/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="okx-mica-casp")
    holder = EntityRefSerializer(
        columns={"name": "OKX", "slug": "okx", "url": "/entities/okx/"},
        help_text="The entity the licence is granted to.",
    )
    regime = RegimeRefSerializer(
        source="license_type.regime",
        columns={"short_name": "MiCA", "slug": "mica"},
        help_text="The regime it is granted under.",
    )
    license_type = LicenseTypeSerializer(
        columns={"name": "Crypto-asset service provider (CASP) authorisation", "slug": "casp-authorisation"},
        column_help={"slug": "Slug of the licence type (unique within its regime)."},
        help_text="The kind of licence, as the regime names it.",
    )
    regulator = RegulatorRefSerializer(
        allow_null=True,
        columns={"name": "Virtual Assets Regulatory Authority", "slug": "vara"},
        help_text="The issuing authority; none when no source names it.",
    )
    granted_in = JurisdictionRefSerializer(
        columns={"code": "MT", "name": "Malta"},
        help_text="The jurisdiction it was granted in (its home jurisdiction): the one its source states, else "
        "its regime's (the EU for a MiFID II licence whose source names no member state).",
    )
    granted_in_stated = Flag(
        computed=("jurisdiction_id",),
        help_text="False when no source states the home jurisdiction and the regime's stands in for it.",
        example="true",
    )
    passported_to = JurisdictionRefSerializer(
        many=True,
        columns={"code": "EEA"},
        help_text="Other jurisdictions where it may be used (the EEA for MiCA and MiFID II).",
    )
    status = Choice(choices=LicenseStatus.choices, help_text="Its status.", example="active")
    status_display = Display(of="status", choices=LicenseStatus.choices, example="Active")
    granted = PartialDateField(help_text="When it was granted", example=("2025-02", "February 2025"))
    ended = PartialDateField(help_text="When it was revoked, expired or was surrendered", example=("2026", "2026"))
    activities = ActivitySerializer(many=True, columns={"name": "Spot trading"}, help_text="The services it permits.")
    client_scope = Texts(
        computed=("serves_retail", "serves_professional", "serves_institutional"),
        help_text="Client types it may serve: retail, professional, institutional (empty when no source says).",
        example="institutional",
    )
    reference_number = Text(allow_blank=True, help_text="The regulator's reference, when known.", example="C-123456")
    conditions = Text(
        allow_blank=True,
        help_text="Restrictions or conditions, as the source states them.",
        example="Retail clients: the source says qualified retail clients.",
    )
    last_verified_on = verified_on_field()
    citations = citations_field()

    class Meta:
        model = License
        page = "public:license-detail"
        select_related = ("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
        # Where it was granted: License.granted_in, the same rule in SQL.
        expressions = {"granted_in__code": granted_in_field("code"), "granted_in__name": granted_in_field("name")}


WHITE_PAPER_EXAMPLE = "/white-papers/skygate-network-gmbh-white-paper/"


class WhitePaperSerializer(TableSerializer):
    url = PublicURLField(example=WHITE_PAPER_EXAMPLE)
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="skygate-network-gmbh-white-paper")
    kind = Choice(choices=TokenKind.choices, help_text="The MiCA register that lists it.", example="other")
    kind_display = Display(of="kind", choices=TokenKind.choices, example="Other crypto-asset")
    crypto_asset = CryptoAssetRefSerializer(
        allow_null=True,
        published_only=True,
        columns={"slug": "token-5rjt6339x", "ffg": "5RJT6339X"},
        help_text="The crypto-asset it describes, when the source identifies it by DTI or FFG code.",
    )
    offeror = EntityRefSerializer(
        allow_null=True,
        columns={"name": "Skygate Network GmbH", "slug": "skygate-network-gmbh"},
        help_text="The offeror, person seeking admission to trading, or issuer; none when the source names none.",
    )
    filed_by = EntityRefSerializer(
        allow_null=True,
        columns={"name": "Tangany GmbH", "slug": "tangany-gmbh"},
        help_text="The crypto-asset service provider that notified it for the offeror, when one did.",
    )
    authority = RegulatorRefSerializer(
        source="regulator",
        allow_null=True,
        columns={"name": "Central Bank of Ireland", "slug": "cbi-ie"},
        help_text="The competent authority it was notified to.",
    )
    home_state = JurisdictionRefSerializer(
        source="jurisdiction",
        allow_null=True,
        columns={"code": "IE", "name": "Ireland"},
        help_text="The notifying authority's member state.",
    )
    host_states = JurisdictionRefSerializer(
        many=True, columns={"code": "FR"}, help_text="Member states the offer covers, as ESMA lists them."
    )
    address = Text(
        source="url", allow_blank=True, help_text="Where the white paper is published.", example="https://…/wp.pdf"
    )
    address_as_published = Text(
        source="url_as_published",
        allow_blank=True,
        help_text="What ESMA published instead of an address (EMT_NO_WP, a file name); empty otherwise.",
        example="EMT_NO_WP",
    )
    notified = PartialDateField(help_text="When it was notified (EMTs and ARTs)", example=("2024-07-01", "1 July 2024"))
    listed = PartialDateField(help_text="When ESMA last updated its entry", example=("2025-11-04", "4 November 2025"))
    comments = Text(allow_blank=True, help_text="ESMA's comments, verbatim.", example="wp update")
    issuer_authorisation = Text(
        allow_blank=True,
        help_text="The issuer's authorisation as ESMA states it (EMTs and ARTs).",
        example="Electronic money institution",
    )
    not_listed_since = Day(
        allow_null=True,
        help_text="The first ESMA snapshot that no longer lists it; empty while it is listed.",
        example="2026-01-29",
    )
    citations = citations_field()

    class Meta:
        model = WhitePaper
        page = "public:white-paper-detail"
        select_related = ("crypto_asset", "offeror", "filed_by", "regulator", "jurisdiction")


class CryptoAssetSerializer(TableSerializer):
    url = PublicURLField(example="/crypto-assets/token-5rjt6339x/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="token-5rjt6339x")
    kind = Choice(choices=TokenKind.choices, help_text="What MiCA calls it.", example="other")
    kind_display = Display(of="kind", choices=TokenKind.choices, example="Other crypto-asset")
    name = Text(allow_blank=True, help_text="Its name, when a source gives it.", example="EURC")
    ffg = Text(allow_blank=True, help_text="ISO 24165 code of its functionally fungible group.", example="5RJT6339X")
    dtis = Text(allow_blank=True, help_text="ISO 24165 Digital Token Identifiers, one a line.", example="46P3KPLQX")

    class Meta:
        model = CryptoAsset
        page = "public:crypto-asset-detail"


def _cited(model, *related):
    """The rows of ``model`` citing a published source, with the source (not its text) joined."""
    return model.objects.cited().select_related("source", *related).defer("source__archived_text", "source__notes")


def _status_changes():
    return _cited(AuditStatusChange).order_by("effective_on", "id")


def _accreditations():
    return _cited(Accreditation, "body", "standard").order_by("body__name", "reference")


def _findings():
    return _cited(AuditFinding)


def _reserve_rows():
    return _cited(ReserveSnapshot).with_ratio()


def _vouching_summary(row):
    body = row.body.abbreviation or row.body.name
    if row.body.is_cpa_board:
        return f"{body} (CPA licence)"
    return f"{body} ({row.standard.name})" if row.standard_id else body


def _finding_summary(row):
    fixed = f" ({row.resolved} fixed)" if row.resolved is not None else ""
    return f"{row.severity}: {row.count}{fixed}"


# The three latest-reserve fields read one loader: a table reads the latest rows once per batch.
LATEST_RESERVE = LatestReserve(_reserve_rows)

AUDIT_STATUS_HELP = (
    "On the day asked (today, the as_of day, or the day a release was written), as IAF CertSearch has them: "
    "current (IAF's valid); suspended or withdrawn (the latest cited status change in effect); superseded (a later "
    "report of the same standard for the same subject had been issued); expired (past valid_until); or "
    "not_yet_issued. A withdrawal outranks the dates; a suspension applies to a report otherwise current."
)


class AuditSerializer(TableSerializer):
    url = PublicURLField(example="/audits/okx-iso-iec-27001-2025-05/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="okx-iso-iec-27001-2025-05")
    subject = EntityRefSerializer(
        columns={"name": "OKX", "slug": "okx", "url": "/entities/okx/"},
        help_text="The entity audited or certified.",
    )
    kind = Choice(choices=AuditKind.choices, help_text="What kind of audit it is.", example="certification")
    kind_display = Display(of="kind", choices=AuditKind.choices, example="Certification")
    standard = StandardSerializer(
        allow_null=True,
        columns={"name": "ISO/IEC 27001", "slug": "iso-iec-27001"},
        help_text="The standard it was made against; none for a bespoke audit.",
    )
    auditor = EntityRefSerializer(
        allow_null=True,
        columns={"name": "SlowMist", "slug": "slowmist"},
        help_text="The audit firm or certification body; none when no source names it.",
    )
    scope = Text(
        allow_blank=True,
        help_text="What was audited, as the source states it.",
        example="Independent verification of OKX's proof-of-reserves (POR) report.",
    )
    issued = PartialDateField(help_text="When the report or certificate was issued", example=("2025-05", "May 2025"))
    period_start = PartialDateField(
        source="period_started",
        help_text="Start of the period covered, or of an ongoing engagement",
        example=("2023", "2023"),
    )
    period_end = PartialDateField(
        source="period_ended", help_text="End of the period covered", example=("2024-06-30", "30 June 2024")
    )
    valid_until = PartialDateField(
        source="valid_until_date", help_text="When a certificate expires, if stated", example=("2028-05", "May 2028")
    )
    ongoing = Flag(help_text="True for an open-ended engagement (it has a start and no end).", example="false")
    reference = Text(allow_blank=True, help_text="Certificate or report number, if known.", example="IS 123456")
    status = Choice(choices=AuditStatus.choices, help_text=AUDIT_STATUS_HELP, example="current")
    status_display = Display(of="status", choices=AuditStatus.choices, example="Current")
    superseded_by = SupersededBySerializer(
        allow_null=True,
        column_help={
            "url": "The page of the later report that superseded this one; empty unless the status is superseded."
        },
        help_text="The later report that superseded this one.",
        example="/audits/okx-soc-2-type-ii-2024-07/",
    )
    supersedes = AuditRefSerializer(
        many=True, source="supersedes_audits", table=False, help_text="The earlier reports this one superseded."
    )
    period_covered = Text(
        computed=("period_start", "period_start_precision", "period_end", "period_end_precision", "ongoing", "kind"),
        help_text="The period covered (a SOC 2 Type II report's), or an engagement's span, in words; \"period not "
        'stated by the source" when no source gives it.',
        example="covers 1 October 2023 – 31 March 2024",
    )
    status_changes = RowList(
        child=StatusChangeSerializer(),
        rows=_status_changes,
        summary=lambda row: f"{row.status} {row.effective.isoformat()}",
        help_text="Suspensions, withdrawals and restorations decided by the certification body, each dated and "
        "cited. In a table: each as its status and date.",
        example="suspended 2025-06-01; restored 2025-09",
    )
    vouched_by = VouchedBy(
        child=VouchingSerializer(),
        rows=_accreditations,
        summary=_vouching_summary,
        help_text="Who vouches for the auditor, as cited sources say: accreditation bodies (for the audit's "
        "standard, or any) and boards licensing it as a CPA firm. Empty when no source names one.",
        example="UKAS (ISO/IEC 27001)",
    )
    scope_items = RelatedValues(
        value="name",
        help_text="The areas the audit covered, in its source's words.",
        example="private key security; wallet modules; AA smart contract accounts",
    )
    findings = RowList(
        child=FindingSerializer(),
        rows=_findings,
        summary=_finding_summary,
        help_text="Findings by severity, when the published report gives them. In a table: severity: count.",
        example="high: 3 (2 fixed); low: 5",
    )
    reserve_snapshots = RowList(
        child=ReserveRowSerializer(),
        rows=_reserve_rows,
        summary=lambda row: f"{row.asset or 'totals'} as of {row.as_of.isoformat()}",
        table=False,
        help_text="A proof-of-reserves verification's figures, per report day and asset (reserve_figures.csv).",
    )
    reserves_as_of = LatestReserveDay(
        loader=LATEST_RESERVE,
        help_text="The day of the latest proof-of-reserves report giving totals; null when there is none.",
        example="2025-03-01",
    )
    reserve_ratio = LatestReserveRatio(
        loader=LATEST_RESERVE,
        help_text="That report's reserve ratio in percent: the stated one, else assets ÷ liabilities × 100.",
        example="105.0",
    )
    reserve_ratio_under_100 = LatestReserveFlag(
        loader=LATEST_RESERVE,
        help_text="True when that ratio is under 100 %; null when there is no report.",
        example="false",
    )
    last_verified_on = verified_on_field()
    citations = citations_field()

    class Meta:
        model = Audit
        page = "public:audit-detail"
        select_related = ("subject", "standard", "auditor")

    def to_representation(self, instance):
        # The viewset links a page's audits in one query; an audit serialized on its own is linked here.
        if not hasattr(instance, "supersedes_audits"):
            link_supersession([instance])
        return super().to_representation(instance)

    @classmethod
    def prepare_values(cls, queryset):
        # The status of each audit on the day asked: AuditQuerySet.with_status, unless a filter annotated it.
        return queryset if "status" in queryset.query.annotations else queryset.with_status()

    @classmethod
    def prepare_instances(cls, objects):
        unlinked = [audit for audit in objects if not hasattr(audit, "status_day")]
        if unlinked:
            link_supersession(unlinked)
        # Records as they stood on a past day come without the rows a queryset's optimise() prefetches.
        prefetch_related_objects(objects, *cls.prefetches())
        return objects


class ReserveFigureSerializer(TableSerializer):
    """One row of a proof-of-reserves report (a release's reserve_figures.csv): one asset, or the totals."""

    audit = AuditRefSerializer(
        columns={"url": "/audits/okx-hacken-proof-of-reserves/", "slug": "okx-hacken-proof-of-reserves"},
        help_text="The proof-of-reserves verification (audits.csv).",
    )
    subject = EntityRefSerializer(
        source="audit.subject", columns={"name": "OKX", "slug": "okx"}, help_text="The entity whose reserves they are."
    )
    verifier = EntityRefSerializer(
        source="audit.auditor",
        allow_null=True,
        columns={"name": "Hacken", "slug": "hacken"},
        help_text="The verifier (the audit's auditor); none when no source names it.",
    )
    as_of = Day(help_text="The day the figures stand for (YYYY-MM-DD).", example="2025-03-01")
    asset = Text(
        allow_blank=True,
        help_text="The asset's ticker; empty for the totals across assets, in US dollars.",
        example="BTC",
    )
    assets = Number(help_text="Reserves held, in units of the asset (US dollars for the totals).", example="10500")
    liabilities = Number(help_text="What customers are owed, in the same unit.", example="10000")
    reserve_ratio = Number(help_text="The reserve ratio the report states, in percent; empty when none.", example="105")
    ratio = Ratio(
        help_text="The reserve ratio in percent: the stated one, else assets ÷ liabilities × 100.", example="105.0"
    )
    under_reserved = Flag(help_text="True when the reserve ratio is under 100 %.", example="false")
    liabilities_merkle_tree = Flag(
        help_text="Liabilities published as a Merkle tree customers can check.", example="true"
    )
    wallets_attested = Flag(help_text="The exchange proved it controls the reserves' wallets.", example="true")
    report_url = Text(
        allow_blank=True, help_text="The published report; may be empty.", example="https://por.example/2025-03.pdf"
    )
    tool_url = Text(
        allow_blank=True,
        help_text="Where a customer checks their own balance; may be empty.",
        example="https://por.example/verify",
    )
    source = SourceRefSerializer(
        columns={"slug": "okx-compliance-overview-article", "url": "/sources/okx-compliance-overview-article/"},
        help_text="The source that states the figures.",
    )
    quote = Text(
        allow_blank=True,
        help_text="The sentence in the source that states them, verbatim.",
        example="Reserves of 105 % as of 1 March 2025.",
    )

    class Meta:
        model = ReserveSnapshot
        select_related = ("audit__subject", "audit__auditor", "source")

    @classmethod
    def prepare_values(cls, queryset):
        # The reserve-ratio rule: ReserveSnapshotQuerySet.with_ratio.
        return queryset.with_ratio()


class SourceSerializer(TableSerializer):
    url = PublicURLField(example="/sources/okx-compliance-overview-article/")
    natural_key = NaturalKeyField(table=False)
    slug = Text(help_text=SLUG_HELP, example="okx-compliance-overview-article")
    title = Text(
        help_text="Title as published; a title in [square brackets] was supplied by the register.",
        example="[OKX's compliance licences and security certifications: an overview]",
    )
    kind = Choice(choices=SourceKind.choices, help_text="What kind of document it is.", example="article")
    kind_display = Display(of="kind", choices=SourceKind.choices, example="Article")
    publisher = Text(allow_blank=True, help_text="Who published it.", example="AiCoin (aicoin.com)")
    address = Text(
        source="url",
        allow_blank=True,
        help_text="Where it was published, if online; may be empty.",
        example="https://news.example/okx-licences",
    )
    published = PartialDateField(
        source="publication_date", help_text="When it was published", example=("2025-03", "March 2025")
    )
    retrieved_on = Day(allow_null=True, help_text="When the register took its copy (YYYY-MM-DD).", example="2025-03-14")
    archived = Flag(source="sha256", help_text="True when the site keeps an archived copy of its text.", example="true")
    sha256 = Text(
        allow_blank=True,
        pattern="[0-9a-f]{64}",
        help_text="SHA-256 of the archived text (UTF-8), to check a copy against; empty when there is none.",
        example="b0f4d079e8b8d5b9388d45cdab9600b61643254eb692670015bb09b3da1f3376",
    )

    class Meta:
        model = Source
        page = "public:source-detail"


class SourceDetailSerializer(SourceSerializer):
    archived_text = Text(allow_blank=True, table=False, help_text="Our archived copy of the text.")


class JurisdictionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    official_name = serializers.CharField()
    kind = serializers.CharField()
    parent = serializers.CharField(source="parent.code", allow_null=True, default=None)


# ---------------------------------------------------------------------------
# Changes (objects of history.feed, not model instances)
# ---------------------------------------------------------------------------


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.CharField(allow_null=True, help_text="The former value; null where it is not shown.")
    new = serializers.CharField(allow_null=True, help_text="The new value; null where it is not shown.")


class ChangesField(Tabular, serializers.ListField):
    """A change's changed fields: ``{field, old, new}`` objects in JSON, "Status: Active → Revoked" in CSV."""

    def __init__(self, **kwargs):
        kwargs["child"] = FieldChangeSerializer()
        super().__init__(**kwargs)

    def to_representation(self, data):
        return [change.as_dict() for change in data]

    def table_columns(self, prefix):
        path = self.path(prefix)

        def as_json(changes):
            return [change.as_dict() for change in changes]

        return [self.column(self.field_name, (path,), lambda r, link: r[path], list=True, json=as_json)]


class ChangeSerializer(TableSerializer):
    date = Text(source="date_iso", help_text="When, in ISO 8601 (UTC): 2026-11-25T14:03:07Z.")
    date_display = Text(help_text="When, as the site shows it.")
    record_type = Text(help_text="The kind of record changed: license, audit, entity…")
    record_type_display = Text(help_text="The kind of record, in words.")
    record = Text(source="label", help_text="The record's name.")
    url = AbsoluteURLField(allow_blank=True, help_text="The record's page; empty when it is no longer public.")
    action = Text(help_text="What happened: published, changed, unpublished, deleted…")
    action_display = Text(help_text="What happened, in words.")
    changes = ChangesField(help_text="The fields changed, with their old and new values where they are shown.")
    reason = Text(allow_blank=True, help_text="Why, when the editor said.")

    class Meta:
        model = None
