"""The register's data model.

Every fact a curator records about a firm (a licence, an audit, a key person)
cites at least one :class:`Source`. What the public may see is decided in one
place per model: the ``published()`` method of its QuerySet. Every public page,
export and API starts from it.

One module per concern; everything is importable from ``registry.models``.
"""

from registry.dates import DatePrecision, PartialDateDescriptor, partial_date_constraints, partial_date_fields
from registry.links import detail_path

from .audits import Audit, AuditKind, AuditQuerySet, AuditStatus, Standard, link_supersession
from .base import (
    FOUR_EYES,
    LEI_REGEX,
    SLUG_HELP,
    VERIFICATION_INTERVAL,
    VISIBILITY_RULES,
    Curated,
    HistoricalRecords,
    Publication,
    PublishableQuerySet,
    SlugQuerySet,
    VerifiableQuerySet,
    VisibilityRule,
    choice_constraint,
    needs_verification,
    path_model,
    today,
    validate_lei,
    visibility_rule,
)
from .citations import (
    AuditCitation,
    AuditFact,
    EntityCitation,
    EntityFact,
    KeyPersonCitation,
    KeyPersonFact,
    LicenseCitation,
    LicenseFact,
)
from .curation import (
    MatchProposal,
    MatchProposalQuerySet,
    MatchStatus,
    Revision,
    RevisionQuerySet,
    RevisionStatus,
)
from .entities import (
    AliasKind,
    Entity,
    EntityAlias,
    EntityAliasQuerySet,
    EntityKind,
    EntityQuerySet,
    KeyPerson,
    KeyPersonQuerySet,
)
from .licenses import (
    GRANTED_IN_PATHS,
    TEXT_PREDATES_OFFICIAL_SOURCE,
    License,
    LicenseQuerySet,
    LicenseStatus,
    granted_in_field,
)
from .notices import WarningNotice, WarningNoticeQuerySet
from .places import Jurisdiction, JurisdictionKind, JurisdictionQuerySet
from .regimes import Activity, LicenseType, LicenseTypeQuerySet, Regime, Regulator
from .sources import SOURCE_AUTHORITY, Citation, CitationQuerySet, Source, SourceKind

# Every name, for ``from registry.models import …`` across the project.
__all__ = [
    "Activity",
    "AliasKind",
    "Audit",
    "AuditCitation",
    "AuditFact",
    "AuditKind",
    "AuditQuerySet",
    "AuditStatus",
    "Citation",
    "CitationQuerySet",
    "Curated",
    "DatePrecision",
    "Entity",
    "EntityAlias",
    "EntityAliasQuerySet",
    "EntityCitation",
    "EntityFact",
    "EntityKind",
    "EntityQuerySet",
    "FOUR_EYES",
    "GRANTED_IN_PATHS",
    "HistoricalRecords",
    "Jurisdiction",
    "JurisdictionKind",
    "JurisdictionQuerySet",
    "KeyPerson",
    "KeyPersonCitation",
    "KeyPersonFact",
    "KeyPersonQuerySet",
    "LEI_REGEX",
    "License",
    "LicenseCitation",
    "LicenseFact",
    "LicenseQuerySet",
    "LicenseStatus",
    "LicenseType",
    "LicenseTypeQuerySet",
    "MatchProposal",
    "MatchProposalQuerySet",
    "MatchStatus",
    "PartialDateDescriptor",
    "Publication",
    "PublishableQuerySet",
    "Regime",
    "Regulator",
    "Revision",
    "RevisionQuerySet",
    "RevisionStatus",
    "SLUG_HELP",
    "SOURCE_AUTHORITY",
    "SlugQuerySet",
    "Source",
    "SourceKind",
    "Standard",
    "TEXT_PREDATES_OFFICIAL_SOURCE",
    "VERIFICATION_INTERVAL",
    "VISIBILITY_RULES",
    "VerifiableQuerySet",
    "VisibilityRule",
    "WarningNotice",
    "WarningNoticeQuerySet",
    "choice_constraint",
    "detail_path",
    "granted_in_field",
    "link_supersession",
    "needs_verification",
    "partial_date_constraints",
    "partial_date_fields",
    "path_model",
    "today",
    "validate_lei",
    "visibility_rule",
]
