"""factory-boy factories, one per state a test needs.

Published factories build records the public can see (a licence or audit
comes with a citation of a published source); ``Draft*`` factories build
records that must stay invisible.
"""

import datetime

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from registry import models
from registry.dates import DatePrecision


class UserFactory(DjangoModelFactory):
    """A staff account with no role; see CuratorFactory and ReviewerFactory."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@registry.example")
    is_staff = True
    password = factory.django.Password("correct-horse-battery-staple")


def in_group(name):
    """The ``role`` hook of a staff factory: the created user joins the group ``name`` (its permissions)."""

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=name))

    return role


class CuratorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"curator{n}")
    role = in_group("curators")


class ReviewerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"reviewer{n}")
    role = in_group("reviewers")


class JurisdictionFactory(DjangoModelFactory):
    class Meta:
        model = models.Jurisdiction
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"Q{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}")
    name = factory.LazyAttribute(lambda o: f"Country {o.code}")
    kind = models.JurisdictionKind.COUNTRY


class SubdivisionFactory(JurisdictionFactory):
    parent = factory.SubFactory(JurisdictionFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.parent.code}-S{n}")
    kind = models.JurisdictionKind.SUBDIVISION
    subdivision_type = "Emirate"


class AreaFactory(JurisdictionFactory):
    code = factory.Sequence(lambda n: f"AREA{n}")
    kind = models.JurisdictionKind.SUPRANATIONAL

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.set(extracted)


class StandardFactory(DjangoModelFactory):
    class Meta:
        model = models.Standard
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Standard {n}")
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))
    issuer = "Standards Body"


class RegimeFactory(DjangoModelFactory):
    class Meta:
        model = models.Regime

    slug = factory.Sequence(lambda n: f"regime-{n}")
    short_name = factory.Sequence(lambda n: f"Regime {n}")
    name = factory.LazyAttribute(lambda o: f"{o.short_name} Act")
    jurisdiction = factory.SubFactory(JurisdictionFactory)
    publication_status = models.Publication.PUBLISHED


class DraftRegimeFactory(RegimeFactory):
    publication_status = models.Publication.DRAFT


class LicenseTypeFactory(DjangoModelFactory):
    class Meta:
        model = models.LicenseType

    regime = factory.SubFactory(RegimeFactory)
    slug = factory.Sequence(lambda n: f"type-{n}")
    name = factory.Sequence(lambda n: f"Licence type {n}")


class ActivityFactory(DjangoModelFactory):
    class Meta:
        model = models.Activity

    slug = factory.Sequence(lambda n: f"activity-{n}")
    name = factory.Sequence(lambda n: f"Activity {n}")


class RegulatorFactory(DjangoModelFactory):
    class Meta:
        model = models.Regulator

    slug = factory.Sequence(lambda n: f"regulator-{n}")
    name = factory.Sequence(lambda n: f"Financial Authority {n}")
    abbreviation = factory.Sequence(lambda n: f"FA{n}")
    jurisdiction = factory.SubFactory(JurisdictionFactory)
    publication_status = models.Publication.PUBLISHED


class DraftRegulatorFactory(RegulatorFactory):
    publication_status = models.Publication.DRAFT


class EntityFactory(DjangoModelFactory):
    class Meta:
        model = models.Entity

    slug = factory.Sequence(lambda n: f"entity-{n}")
    name = factory.Sequence(lambda n: f"Example Exchange {n} Ltd")
    kind = models.EntityKind.COMPANY
    publication_status = models.Publication.PUBLISHED


class GroupFactory(EntityFactory):
    name = factory.Sequence(lambda n: f"Example Group {n}")
    kind = models.EntityKind.GROUP


class AffiliateFactory(EntityFactory):
    kind = models.EntityKind.AFFILIATE
    parent = factory.SubFactory(GroupFactory)


class AuditorFactory(EntityFactory):
    name = factory.Sequence(lambda n: f"Example Security {n}")
    kind = models.EntityKind.AUDITOR


class DraftEntityFactory(EntityFactory):
    publication_status = models.Publication.DRAFT


class EntityAliasFactory(DjangoModelFactory):
    class Meta:
        model = models.EntityAlias

    entity = factory.SubFactory(EntityFactory)
    name = factory.Sequence(lambda n: f"Trading Name {n}")


class SourceFactory(DjangoModelFactory):
    class Meta:
        model = models.Source

    slug = factory.Sequence(lambda n: f"source-{n}")
    title = factory.Sequence(lambda n: f"Press release {n}")
    publisher = "Example News"
    url = factory.Sequence(lambda n: f"https://news.example/{n}")
    archived_text = "Example Exchange obtained its licence in March 2025."
    publication_status = models.Publication.PUBLISHED


class DraftSourceFactory(SourceFactory):
    publication_status = models.Publication.DRAFT


class WarningNoticeFactory(DjangoModelFactory):
    class Meta:
        model = models.WarningNotice

    slug = factory.Sequence(lambda n: f"warning-{n}")
    entity = factory.SubFactory(EntityFactory)
    jurisdiction = factory.SubFactory(JurisdictionFactory)
    source = factory.SubFactory(SourceFactory)
    decided_on = factory.Sequence(lambda n: datetime.date(2025, 1, 1) + datetime.timedelta(days=n))
    decided_on_precision = "day"
    publication_status = models.Publication.PUBLISHED


def cited_at_creation(record, citation_model):
    """Date the record's creation with its citations', as a fixture loads a record with its citations.

    Otherwise its first history row would predate its citations (and their
    sources), and by the as-of rule (history.as_of) it would only have
    become public when they were added.
    """
    cited = citation_model.history.filter(**{f"{citation_model.TARGET_FIELD}_id": record.pk})
    latest = cited.order_by("-history_date").values_list("history_date", flat=True).first()
    if latest is not None:
        record.history.filter(history_type="+").update(history_date=latest)


def cites(citation_model, quote):
    """The ``citations`` hook of a cited record's factory: cite a published source unless ``citations=False`` or
    a list of sources is given, dated with the record's creation (:func:`cited_at_creation`)."""

    @factory.post_generation
    def citations(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        for source in extracted or [SourceFactory()]:
            citation_model.objects.create(**{citation_model.TARGET_FIELD: self}, source=source, quote=quote)
        cited_at_creation(self, citation_model)

    return citations


class LicenseFactory(DjangoModelFactory):
    """A published, cited, active licence granted in March 2025 (month precision)."""

    class Meta:
        model = models.License
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"licence-{n}")
    holder = factory.SubFactory(EntityFactory)
    license_type = factory.SubFactory(LicenseTypeFactory)
    status = models.LicenseStatus.ACTIVE
    granted_on = datetime.date(2025, 3, 1)
    granted_on_precision = DatePrecision.MONTH
    publication_status = models.Publication.PUBLISHED

    citations = cites(models.LicenseCitation, "obtained its licence")


class DraftLicenseFactory(LicenseFactory):
    publication_status = models.Publication.DRAFT


class UncitedLicenseFactory(LicenseFactory):
    @factory.post_generation
    def citations(self, create, extracted, **kwargs):
        """No citation: such a licence must never be public."""


class AuditFactory(DjangoModelFactory):
    """A published, cited certification issued in May 2025 (month precision)."""

    class Meta:
        model = models.Audit
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"audit-{n}")
    subject = factory.SubFactory(EntityFactory)
    kind = models.AuditKind.CERTIFICATION
    standard = factory.SubFactory(StandardFactory)
    issued_on = datetime.date(2025, 5, 1)
    issued_on_precision = DatePrecision.MONTH
    publication_status = models.Publication.PUBLISHED

    citations = cites(models.AuditCitation, "certified")


class DraftAuditFactory(AuditFactory):
    publication_status = models.Publication.DRAFT


class OngoingAuditFactory(AuditFactory):
    """An open-ended security engagement since a year (SlowMist "since 2023")."""

    kind = models.AuditKind.SECURITY_AUDIT
    standard = None
    auditor = factory.SubFactory(AuditorFactory)
    issued_on = None
    issued_on_precision = ""
    period_start = datetime.date(2023, 1, 1)
    period_start_precision = DatePrecision.YEAR
    ongoing = True


class KeyPersonFactory(DjangoModelFactory):
    class Meta:
        model = models.KeyPerson

    entity = factory.SubFactory(EntityFactory)
    name = factory.Sequence(lambda n: f"Person {n}")
    role = "Chief Executive Officer"
    publication_status = models.Publication.PUBLISHED


# ---------------------------------------------------------------------------
# Status changes, accreditation, security-audit details, proof of reserves (issue 17)
# ---------------------------------------------------------------------------


class AuditStatusChangeFactory(DjangoModelFactory):
    """A certificate suspended from 1 June 2025, citing a published source."""

    class Meta:
        model = models.AuditStatusChange

    audit = factory.SubFactory(AuditFactory)
    status = models.StatusChange.SUSPENDED
    effective_on = datetime.date(2025, 6, 1)
    effective_on_precision = DatePrecision.DAY
    source = factory.SubFactory(SourceFactory)
    quote = "The certificate was suspended."


class AccreditationBodyFactory(DjangoModelFactory):
    class Meta:
        model = models.AccreditationBody
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"accreditation-body-{n}")
    name = factory.Sequence(lambda n: f"Accreditation Service {n}")
    abbreviation = factory.Sequence(lambda n: f"AS{n}")
    kind = models.AccreditationBodyKind.ACCREDITATION


class AccreditationFactory(DjangoModelFactory):
    """A certification body accredited to certify against a standard, citing a published source."""

    class Meta:
        model = models.Accreditation

    holder = factory.SubFactory(AuditorFactory)
    body = factory.SubFactory(AccreditationBodyFactory)
    standard = factory.SubFactory(StandardFactory)
    reference = factory.Sequence(lambda n: f"ACC-{n}")
    source = factory.SubFactory(SourceFactory)
    quote = "Accredited to certify information security management systems."


class AuditScopeItemFactory(DjangoModelFactory):
    class Meta:
        model = models.AuditScopeItem

    audit = factory.SubFactory(OngoingAuditFactory)
    name = factory.Sequence(lambda n: f"Area {n}")


class AuditFindingFactory(DjangoModelFactory):
    class Meta:
        model = models.AuditFinding

    audit = factory.SubFactory(OngoingAuditFactory)
    severity = models.Severity.HIGH
    count = 3
    resolved = 2
    source = factory.SubFactory(SourceFactory)
    quote = "Three high-severity findings, two of them fixed."


class ProofOfReservesAuditFactory(OngoingAuditFactory):
    """An open-ended proof-of-reserves engagement since January 2025 (Hacken, in the seed)."""

    kind = models.AuditKind.PROOF_OF_RESERVES
    period_start = datetime.date(2025, 1, 1)
    period_start_precision = DatePrecision.MONTH


class ReserveSnapshotFactory(DjangoModelFactory):
    """A report's totals in US dollars as of 1 March 2025: 105 % reserves."""

    class Meta:
        model = models.ReserveSnapshot

    audit = factory.SubFactory(ProofOfReservesAuditFactory)
    as_of = datetime.date(2025, 3, 1)
    asset = ""
    assets = 10_500
    liabilities = 10_000
    reserve_ratio = 105
    liabilities_merkle_tree = True
    wallets_attested = True
    source = factory.SubFactory(SourceFactory)
    quote = "Reserves of 105 % as of 1 March 2025."


class CryptoAssetFactory(DjangoModelFactory):
    """A published crypto-asset known by its FFG code (public while one of its white papers is)."""

    class Meta:
        model = models.CryptoAsset

    slug = factory.Sequence(lambda n: f"token-{n}")
    kind = models.TokenKind.OTHER
    ffg = factory.Sequence(lambda n: f"FFG{n:06d}")
    publication_status = models.Publication.PUBLISHED


class WhitePaperFactory(DjangoModelFactory):
    """A published, cited Title II white paper of a published offeror, notified in Ireland."""

    class Meta:
        model = models.WhitePaper
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"white-paper-{n}")
    kind = models.TokenKind.OTHER
    crypto_asset = factory.SubFactory(CryptoAssetFactory)
    offeror = factory.SubFactory(EntityFactory)
    jurisdiction = factory.SubFactory(JurisdictionFactory)
    url = factory.Sequence(lambda n: f"https://example.com/white-paper-{n}.pdf")
    publication_status = models.Publication.PUBLISHED

    citations = cites(models.WhitePaperCitation, "white paper notified")


class DraftWhitePaperFactory(WhitePaperFactory):
    publication_status = models.Publication.DRAFT
