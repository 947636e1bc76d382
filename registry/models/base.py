"""What every curated record shares: publication, four-eyes, verification, history, the visibility rule."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import BooleanField, DateField, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from simple_history import models as simple_history
from stdnum import lei as stdnum_lei
from stdnum.exceptions import ValidationError as StdnumValidationError

LEI_REGEX = r"^[0-9A-Z]{18}[0-9]{2}$"


SLUG_HELP = "Lower-case letters, digits and hyphens; the record's address on the site. Never reuse one."


def choice_constraint(name: str, field: str, choices: type[models.TextChoices], allow_blank: bool = False):
    """A named CheckConstraint that keeps ``field`` within ``choices`` (even through ``loaddata``)."""
    values = list(choices.values) + ([""] if allow_blank else [])
    allowed = ", ".join(value for value in values if value)
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": values}),
        name=name,
        violation_error_message=f"{field.replace('_', ' ').capitalize()} must be one of: {allowed}.",
    )


def sha256_constraint(name: str, message: str, field: str = "sha256", allow_blank: bool = False):
    """A named CheckConstraint that keeps ``field`` a SHA-256 digest in lower-case hexadecimal (or empty)."""
    condition = Q(**{f"{field}__regex": r"^[0-9a-f]{64}$"})
    if allow_blank:
        condition = Q(**{field: ""}) | condition
    return models.CheckConstraint(condition=condition, name=name, violation_error_message=message)


def validate_lei(value: str) -> None:
    """ISO 17442: 20 characters, ending in two MOD 97-10 check digits (python-stdnum checks both)."""
    if not value:
        return
    try:
        stdnum_lei.validate(value)
    except StdnumValidationError as exc:
        raise ValidationError(
            "%(value)s is not a valid LEI (ISO 17442): %(reason)s",
            code="invalid_lei",
            params={"value": value, "reason": str(exc).rstrip(".").lower()},
        ) from exc


class HistoricalRecords(simple_history.HistoricalRecords):
    """django-simple-history's change history, each table with an index for "the record's row at an instant".

    Whether a record was public at a past instant (history/as_of.py: the
    as-of view, the change feed) looks up, for each row it reads, the latest
    history row of several other records by that instant and reads its status.
    The index ``(id, history_date, history_id, publication_status,
    history_type)`` answers each lookup alone: one seek, no sort, no read of
    the (wide) history row. It made counting the change feed 2 to 3 times faster.
    """

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        covered = ["publication_status"] if any(f.name == "publication_status" for f in model._meta.fields) else []
        fields = ["id", "history_date", "history_id", *covered, "history_type"]
        index = models.Index(fields=fields, name=f"hist_{model._meta.model_name[:19]}_at")
        options["indexes"] = (*options.get("indexes", ()), index)
        return options


def today(at: datetime.date | None = None) -> datetime.date:
    return at or timezone.localdate()


def last_verified_field() -> models.DateField:
    """``last_verified_on``: the day a curator last checked the record against its sources, which the
    verification rule (:meth:`VerifiableQuerySet.stale`) reads."""
    return models.DateField(
        "last verified on",
        null=True,
        blank=True,
        db_index=True,
        help_text="When a curator last checked this against its sources.",
    )


def optional_link(to, on_delete, related_name: str, help_text: str = "", **options) -> models.ForeignKey:
    """A foreign key that may be empty; ``on_delete`` says what deleting the record it names does to it."""
    return models.ForeignKey(
        to, null=True, blank=True, on_delete=on_delete, related_name=related_name, help_text=help_text, **options
    )


def optional_reference(to, related_name: str, help_text: str, **options) -> models.ForeignKey:
    """A link to a record that a source may not name (empty then), which protects what it names: nothing a
    public record refers to is deleted under it."""
    return optional_link(to, models.PROTECT, related_name, help_text, **options)


def official_register_key_field(example: str, record: str = "it") -> models.CharField:
    """``official_register_key``: how an importer recognises a record in the official register's later snapshots."""
    return models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text=f"How an official-register importer recognises {record} in later snapshots ({example}).",
    )


def not_listed_field() -> models.DateField:
    """``not_listed_since``: the first official-register snapshot that no longer lists an imported record."""
    return models.DateField(
        "no longer listed since",
        null=True,
        blank=True,
        help_text="The first official-register snapshot that no longer lists it (it is kept, not deleted).",
    )


def public_flag_field() -> models.BooleanField:
    """``public``: whether the public sees the record, by the rule of its QuerySet's ``by_rule()``, stored by
    the database's triggers (registry/derived/visibility.py) so that ``published()`` is one indexed lookup."""
    return models.BooleanField(
        default=False,
        editable=False,
        help_text="Kept by the database on every write (registry/derived/visibility.py): "
        "whether the public sees this record.",
    )


def quality_flags_field(
    help_text: str = 'Problems found in the source data, shown to curators and the public: [{"code", "message"}].',
) -> models.JSONField:
    """``quality_flags``: problems an importer found in the source data, as ``[{"code", "message"}]``."""
    return models.JSONField("data-quality flags", default=list, blank=True, help_text=help_text)


class Publication(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class SlugQuerySet(models.QuerySet):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class PublishableQuerySet(SlugQuerySet):
    def published(self):
        """Records the public may see: those a curator has published."""
        return self.filter(publication_status=Publication.PUBLISHED)


def _cited_by_published_source(model, relation="citations"):
    """Whether a record of ``model`` cites at least one published source (its ``relation`` to its citations)."""
    citation_model = model._meta.get_field(relation).related_model
    return Exists(
        citation_model.objects.filter(
            **{citation_model.TARGET_FIELD: OuterRef("pk")},
            source__publication_status=Publication.PUBLISHED,
        )
    )


VERIFICATION_INTERVAL = datetime.timedelta(days=365)


def _verified_on():
    """The day a record was last checked against its sources: ``last_verified_on``, or, when no check has
    been recorded since, the day it was created (creating a record from its sources, or importing it from
    an official register, is checking it). Days are in the site's time zone, as ``today()``'s are."""
    return Coalesce("last_verified_on", TruncDate("created_at"))


def needs_verification(record, at=None) -> bool:
    """Whether :meth:`VerifiableQuerySet.stale` lists ``record`` on ``at``: read from ``with_verification()``
    when the record was loaded through it for that day, else asked of the database (never a second rule)."""
    day = today(at)
    if getattr(record, "verification_day", None) != day:
        loaded = type(record)._default_manager.with_verification(day).filter(pk=record.pk)
        record.verified_on, record.is_stale = loaded.values_list("verified_on", "is_stale").get()
        record.verification_day = day
    return record.is_stale


class VerifiableQuerySet(SlugQuerySet):
    def stale(self, at=None):
        """Records not verified against their sources in the 12 months before ``at`` (default today).

        The one verification rule: a record is checked on ``last_verified_on``, or on the day it was created
        when no later check is recorded, so a record created or checked today is never stale.
        """
        return self.with_verification(at).filter(is_stale=True)

    def with_verification(self, at=None):
        """Annotated with ``verified_on`` (see :func:`_verified_on`) and ``is_stale`` (listed by :meth:`stale`)."""
        day = today(at)
        return self.annotate(
            verified_on=_verified_on(),
            is_stale=ExpressionWrapper(Q(verified_on__lt=day - VERIFICATION_INTERVAL), output_field=BooleanField()),
            verification_day=Value(day, output_field=DateField()),
        )


@dataclass(frozen=True)
class VisibilityRule:
    """What a record's public visibility depends on besides its own publication: the rule of ``published()``,
    written as data so that code can follow it. :func:`by_visibility_rule` evaluates it as a query (the
    ``published()`` of key people and warnings; ``by_rule()`` of licences and audits, whose answer is stored).

    :func:`curation.review.draft_dependencies` reads it to list the drafts a record waits for, and
    :func:`history.as_of.public_then` to decide whether a record was public at a past instant (the as-of
    view, the change feed). ``tests/curation/test_review.py`` holds it equal to the query sets' rules, model by model.

    * ``requires``: relations (query paths) to curated records that must be published;
    * ``optional``: relations that must be published when they name a record;
    * ``cited_by``: the reverse relation of the record's citations, one of which must cite a published source.
    """

    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    cited_by: str = ""


# By model name. A curated model not listed here is public when it is published itself.
VISIBILITY_RULES = {
    "license": VisibilityRule(
        requires=("holder", "license_type__regime"), optional=("regulator",), cited_by="citations"
    ),
    "audit": VisibilityRule(requires=("subject",), optional=("auditor",), cited_by="citations"),
    "keyperson": VisibilityRule(requires=("entity",)),
    "warningnotice": VisibilityRule(requires=("entity", "source"), optional=("regulator",)),
    "whitepaper": VisibilityRule(optional=("offeror", "filed_by", "regulator"), cited_by="citations"),
}


def visibility_rule(model) -> VisibilityRule:
    """The :class:`VisibilityRule` of ``model`` (a model class or a history model of one)."""
    model = getattr(model, "instance_type", model)
    return VISIBILITY_RULES.get(model._meta.model_name, VisibilityRule())


def by_visibility_rule(queryset):
    """The records of ``queryset`` its model's :class:`VisibilityRule` lets the public see, as a query.

    Published itself, every relation in ``requires`` published, every one in ``optional`` published when it
    names a record, and citing a published source when the rule says ``cited_by``. Licences and audits store
    the answer in ``public`` (their ``by_rule()``, registry/derived/visibility.py); the others ask it.
    """
    model = queryset.model
    rule = visibility_rule(model)
    published = Publication.PUBLISHED
    conditions = [Q(publication_status=published)]
    conditions += [Q(**{f"{path}__publication_status": published}) for path in rule.requires]
    conditions += [
        Q(**{f"{path}__isnull": True}) | Q(**{f"{path}__publication_status": published}) for path in rule.optional
    ]
    if rule.cited_by:
        conditions.append(_cited_by_published_source(model, rule.cited_by))
    return queryset.filter(*conditions)


class StoredVisibilityQuerySet(VerifiableQuerySet):
    """Licences and audits: checked against their sources, and public by a :class:`VisibilityRule` whose answer
    the database evaluates on every write and stores in ``public`` (registry/derived/visibility.py)."""

    def published(self):
        """The records the public may see: the stored answer of :meth:`by_rule`, so one indexed lookup rather than
        a join per relation the rule names; the tests hold the two equal."""
        return self.filter(public=True)

    def by_rule(self):
        """The visibility rule of :meth:`published` evaluated as a query (the specification of ``public``):
        ``VISIBILITY_RULES[<model name>]``."""
        return by_visibility_rule(self)


class Verifiable:
    """A record checked against its sources (``last_verified_on``), its query set a :class:`VerifiableQuerySet`."""

    def needs_verification(self, at=None) -> bool:
        return needs_verification(self, at)


def path_model(model, path: str):
    """The model a rule's relation path leads to from ``model``: ``license_type__regime`` from a licence, Regime."""
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


# Every Curated model lists this in its constraints, through curated_constraints().
FOUR_EYES = models.CheckConstraint(
    condition=Q(publication_status=Publication.DRAFT)
    | Q(published_by__isnull=True)
    | Q(last_edited_by__isnull=True)
    | ~Q(published_by=F("last_edited_by")),
    name="%(class)s_four_eyes",
    violation_error_message="A record cannot be published by the account that last edited it.",
)


def curated_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The constraints every :class:`Curated` model lists first (a child's Meta replaces its parent's list):
    four-eyes publishing, and a known publication status (``<prefix>_publication_valid``)."""
    return [FOUR_EYES, choice_constraint(f"{prefix}_publication_valid", "publication_status", Publication)]


def recorded_account(help_text: str) -> models.ForeignKey:
    """The account that took a step of a workflow (edited, published, issued a key): set by the code, never in a
    form, and emptied rather than the record deleted when the account goes."""
    return optional_link(settings.AUTH_USER_MODEL, models.SET_NULL, "+", help_text, editable=False)


class SlugKeyed:
    """A record known by its slug: its natural key, which :class:`SlugQuerySet` reads back."""

    def natural_key(self):
        return (self.slug,)


# The fields of a Curated record that only the review workflow (curation.review) sets: no curator edits them
# in a form, no imported file writes them, and none of them is a fact the public reads.
WORKFLOW_FIELDS = (
    "publication_status",
    "version",
    "last_edited_by",
    "published_by",
    "published_at",
    "created_at",
    "updated_at",
)


class Curated(models.Model):
    """Fields every curated, publishable record has.

    Four-eyes publishing: ``published_by`` may never be the ``last_edited_by``
    account (a database rule, so no code path can skip it). Records loaded by an
    operator through ``loaddata`` carry neither.
    """

    publication_status = models.CharField(
        "publication",
        max_length=9,
        choices=Publication.choices,
        default=Publication.DRAFT,
        db_index=True,
        help_text="Only published records are visible to the public.",
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Raised on every save; an edit made from an older version is refused."
    )
    last_edited_by = recorded_account("The account whose edit this version is.")
    published_by = recorded_account("The reviewer who put this version live.")
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Defaults rather than auto_now: fixtures may carry their own timestamps, so
    # loading the same fixture twice leaves the database unchanged.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        if not self._state.adding:
            self.version = (self.version or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at", "version"}
        super().save(*args, **kwargs)

    @property
    def is_published(self):
        return self.publication_status == Publication.PUBLISHED
