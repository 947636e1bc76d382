"""Curation records: revision proposals (four-eyes) and import match proposals."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from registry.models.base import choice_constraint, optional_link
from registry.models.entities import Entity
from registry.models.licenses import License
from registry.models.sources import Source


def four_eyes_constraint(name: str, message: str):
    """A decision (revision or match) is never made by the account that proposed it."""
    return models.CheckConstraint(
        condition=Q(reviewer__isnull=True) | ~Q(reviewer=F("author")), name=name, violation_error_message=message
    )


def decided_iff_reviewed_constraint(name: str, pending: str, decided_at: str, message: str):
    """A decided row names its reviewer and the time (``decided_at``); a ``pending`` one has neither."""
    return models.CheckConstraint(
        condition=(Q(status=pending) & Q(reviewer__isnull=True) & Q(**{f"{decided_at}__isnull": True}))
        | (~Q(status=pending) & Q(reviewer__isnull=False) & Q(**{f"{decided_at}__isnull": False})),
        name=name,
        violation_error_message=message,
    )


class RevisionStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class RevisionQuerySet(models.QuerySet):
    def pending(self):
        """Revisions waiting for a reviewer."""
        return self.filter(status=RevisionStatus.PENDING)

    def for_object(self, obj):
        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)


class Revision(models.Model):
    """An edit to a published record, kept aside until a second reviewer approves it.

    The public keeps seeing the record as last approved. ``changes`` holds the
    proposed values (see ``curation.review``), ``base_version`` the version the
    edit was made from, so an approval over a newer version is refused.
    """

    Status = RevisionStatus

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    base_version = models.PositiveIntegerField(help_text="The record's version when the edit was made.")
    changes = models.JSONField(help_text="The proposed values: fields, many-to-many sets and inline rows.")
    summary = models.TextField(blank=True, help_text="What changes, field by field, for the reviewer.")
    reason = models.TextField(help_text="Why the editor made the change.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="revisions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=8, choices=RevisionStatus.choices, default=RevisionStatus.PENDING)
    reviewer = optional_link(settings.AUTH_USER_MODEL, models.PROTECT, "reviewed_revisions")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = RevisionQuerySet.as_manager()

    # No natural key: a revision is workflow state about one database row, not register data.
    class Meta:
        ordering = ["-created_at"]
        permissions = [("review", "Can publish, unpublish, and approve or reject others' edits")]
        indexes = [models.Index(fields=["content_type", "object_id", "status"], name="revision_target_idx")]
        constraints = [
            choice_constraint("revision_status_valid", "status", RevisionStatus),
            four_eyes_constraint("revision_four_eyes", "An edit cannot be approved or rejected by its own author."),
            decided_iff_reviewed_constraint(
                "revision_reviewed_iff_decided",
                RevisionStatus.PENDING,
                "reviewed_at",
                "A decided revision names its reviewer and date; a pending one has neither.",
            ),
        ]

    def __str__(self):
        return f"Revision of {self.content_type.name} #{self.object_id} by {self.author} ({self.get_status_display()})"


class MatchStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class MatchProposalQuerySet(models.QuerySet):
    def pending(self):
        """Proposals waiting for a curator's decision."""
        return self.filter(status=MatchStatus.PENDING)


class MatchProposal(models.Model):
    """An imported record that may be the same as one curators already have; a reviewer decides.

    The importer never merges on a name alone: it creates its own records and
    proposes the match here. Accepting links them (``imports.esma``).
    """

    Status = MatchStatus

    imported_entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="match_proposals", help_text="The entity the import created."
    )
    existing_entity = models.ForeignKey(
        Entity,
        on_delete=models.CASCADE,
        related_name="matched_by_proposals",
        help_text="The entity (or group) already in the register it may belong to.",
    )
    imported_license = optional_link(
        License, models.CASCADE, "match_proposals", "The licence the import created, if any."
    )
    existing_license = optional_link(
        License, models.CASCADE, "matched_by_proposals", "The licence already in the register it may duplicate, if any."
    )
    score = models.DecimalField(
        max_digits=4, decimal_places=3, help_text="How alike they are, from 0 to 1 (1 only for the same LEI)."
    )
    reason = models.TextField(help_text="Why the importer thinks they match.")
    source = optional_link(Source, models.SET_NULL, "+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Who proposed the match."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=8, choices=MatchStatus.choices, default=MatchStatus.PENDING)
    reviewer = optional_link(settings.AUTH_USER_MODEL, models.PROTECT, "+")
    decided_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = MatchProposalQuerySet.as_manager()

    # No natural key: like a Revision, a proposal is workflow state about database rows, not register data.
    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choice_constraint("match_proposal_status_valid", "status", MatchStatus),
            models.CheckConstraint(
                condition=~Q(imported_entity=F("existing_entity")),
                name="match_proposal_distinct_entities",
                violation_error_message="An entity cannot be matched with itself.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1),
                name="match_proposal_score_range",
                violation_error_message="The score is between 0 and 1.",
            ),
            four_eyes_constraint(
                "match_proposal_four_eyes", "A match cannot be decided by the account that proposed it."
            ),
            decided_iff_reviewed_constraint(
                "match_proposal_decided_iff_reviewed",
                MatchStatus.PENDING,
                "decided_at",
                "A decided proposal names its reviewer and date; a pending one has neither.",
            ),
            models.UniqueConstraint(
                fields=["imported_entity", "existing_entity"],
                name="match_proposal_unique_pair",
                violation_error_message="This match has already been proposed.",
            ),
        ]

    def __str__(self):
        return f"{self.imported_entity} = {self.existing_entity}? ({self.get_status_display()})"
