"""Sources (where each fact comes from) and the citation base class."""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Exists, OuterRef

from registry.dates import PartialDateDescriptor, partial_date_constraints, partial_date_fields
from registry.links import detail_path
from registry.models.base import (
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    Publication,
    PublishableQuerySet,
    SlugKeyed,
    choice_constraint,
    curated_constraints,
    sha256_constraint,
)


class CitationQuerySet(models.QuerySet):
    def get_by_natural_key(self, *key):
        """The cited record's natural key, then the source's slug, then the fact supported."""
        *target_key, source_slug, supports = key
        target_field = self.model.TARGET_FIELD
        target_model = self.model._meta.get_field(target_field).related_model
        target = target_model._default_manager.get_by_natural_key(*target_key)
        return self.get(**{target_field: target}, source__slug=source_slug, supports=supports)

    def published(self):
        """Citations of published sources (the cited record decides its own visibility).

        The source's status is asked as a correlated ``EXISTS``, not a join filter: with a join, SQLite walks
        every published source and probes each cited record (1.7 s for the citations of 2,000 licences),
        where an ``EXISTS`` starts from the citations' own index (0.035 s)."""
        published = Source.objects.filter(pk=OuterRef("source_id"), publication_status=Publication.PUBLISHED)
        return self.filter(Exists(published))


# How far each kind of source is trusted, most authoritative first: where sources disagree, the first leads.
SOURCE_AUTHORITY = ("register", "notice", "company", "report", "article", "other")


class SourceKind(models.TextChoices):
    ARTICLE = "article", "Article"
    OFFICIAL_REGISTER = "register", "Official register"
    REGULATOR_NOTICE = "notice", "Regulator notice"
    COMPANY_STATEMENT = "company", "Company statement"
    REPORT = "report", "Report or certificate"
    OTHER = "other", "Other"

    @property
    def authority(self) -> int:
        """This kind's rank, 0 the most authoritative (official register > regulator > company > press)."""
        return SOURCE_AUTHORITY.index(self.value)


class Source(SlugKeyed, Curated):
    """A document facts are taken from, with an archived copy of its text."""

    Kind = SourceKind

    slug = models.SlugField(max_length=120, unique=True, help_text=SLUG_HELP)
    title = models.CharField(max_length=500, help_text="As published; a title in [square brackets] was supplied by us.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=SourceKind.ARTICLE)
    publisher = models.CharField(max_length=300, blank=True)
    url = models.URLField("address", max_length=1000, blank=True, help_text="Where it was published, if online.")
    published_on, published_on_precision = partial_date_fields("published on")
    retrieved_on = models.DateField(null=True, blank=True, help_text="When we took our copy.")
    archived_text = models.TextField(blank=True, help_text="Our archived copy of the text, shown on the site.")
    sha256 = models.CharField(
        "SHA-256",
        max_length=64,
        blank=True,
        editable=False,
        help_text="Digest of the archived text (UTF-8), set on save.",
    )
    notes = models.TextField(blank=True)

    publication_date = PartialDateDescriptor("published_on")

    history = HistoricalRecords()

    objects = PublishableQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            *curated_constraints("source"),
            choice_constraint("source_kind_valid", "kind", SourceKind),
            *partial_date_constraints("source", "published_on"),
            sha256_constraint("source_sha256_format", "SHA-256 is 64 lower-case hexadecimal digits.", allow_blank=True),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.sha256 = hashlib.sha256(self.archived_text.encode()).hexdigest() if self.archived_text else ""
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return detail_path("public:source-detail", self.slug)

    @property
    def authority(self) -> int:
        """The rank of this source's kind (:attr:`SourceKind.authority`): lower leads where sources disagree."""
        return SourceKind(self.kind).authority


class Citation(models.Model):
    """A source cited for a record, optionally for one of its fields, with the supporting quote."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="%(class)ss")
    quote = models.TextField(blank=True, help_text="The sentence in the source that supports the fact, verbatim.")
    locator = models.CharField(max_length=200, blank=True, help_text="Where in the source: section, page, row.")
    states = models.CharField(
        max_length=300,
        blank=True,
        help_text="What the source says for that fact, as written (27/01/2025), so disagreements can be shown.",
    )

    objects = CitationQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.source} for {getattr(self, self.TARGET_FIELD)}"

    def natural_key(self):
        target = getattr(self, self.TARGET_FIELD)
        return (*target.natural_key(), self.source.slug, self.supports)
