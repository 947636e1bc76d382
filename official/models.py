"""The official register's own history: each file ESMA published, and what changed in it since the one before."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse

from official.columns import END_DATE_COLUMN, LIST_COLUMNS, Register, label, list_items
from registry.models import Entity, License, Publication, Source
from registry.models.base import choice_constraint, optional_link, sha256_constraint


class RegisterSnapshotQuerySet(models.QuerySet):
    def get_by_natural_key(self, register, date):
        return self.get(register=register, date=date)

    def published(self):
        """Snapshots the public may see: the file's source is published (a fact is never shown uncited)."""
        return self.filter(source__publication_status=Publication.PUBLISHED)

    def with_counts(self):
        """Annotated with ``listed``, ``changed`` and ``removed``: how many records of each kind of change."""
        return self.annotate(
            **{
                name: Count("changes", filter=Q(changes__kind=kind))
                for name, kind in (
                    ("listed", ChangeKind.LISTED),
                    ("changed", ChangeKind.CHANGED),
                    ("removed", ChangeKind.REMOVED),
                )
            }
        )


class RegisterSnapshot(models.Model):
    """One file of one of ESMA's registers, as published on a day and imported here."""

    register = models.CharField(max_length=8, choices=Register.choices, help_text="Which of ESMA's register files.")
    date = models.DateField(help_text="The day ESMA published the file (the date in its name).")
    file_name = models.CharField(max_length=200, help_text="The file's name as imported (CASP20260123.csv).")
    sha256 = models.CharField(
        "SHA-256", max_length=64, help_text="Digest of the file's bytes: the same file imported again is ignored."
    )
    row_count = models.PositiveIntegerField(help_text="Data rows in the file.")
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        related_name="register_snapshots",
        help_text="The source the importer cites for this file; the snapshot is public when it is.",
    )
    previous = optional_link(
        "self",
        models.SET_NULL,
        "+",
        "The register's snapshot before this one, which its changes are counted from; none for the first.",
    )
    imported_at = models.DateTimeField(help_text="When the file was imported (or its changes last recomputed).")

    objects = RegisterSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["register", "-date"]
        constraints = [
            models.UniqueConstraint(fields=["register", "date"], name="official_snapshot_one_per_register_day"),
            choice_constraint("official_snapshot_register_valid", "register", Register),
            sha256_constraint("official_snapshot_sha256_format", "SHA-256 is 64 lower-case hexadecimal digits."),
        ]

    def __str__(self):
        return f"{self.get_register_display()}: {self.file_name} ({self.date.isoformat()})"

    def get_absolute_url(self):
        return reverse("official:snapshot", kwargs={"register": self.register, "date": self.date.isoformat()})

    def natural_key(self):
        return (self.register, self.date.isoformat())


class ChangeKind(models.TextChoices):
    LISTED = "listed", "Listed"
    CHANGED = "changed", "Changed"
    REMOVED = "removed", "No longer listed"


class RegisterChangeQuerySet(models.QuerySet):
    def get_by_natural_key(self, register, date, key):
        return self.get(snapshot__register=register, snapshot__date=date, key=key)

    def published(self):
        """Changes of the snapshots the public may see (:meth:`RegisterSnapshotQuerySet.published`)."""
        return self.filter(snapshot__in=RegisterSnapshot.objects.published())

    def in_order(self):
        """Newest snapshot first; within one, listed, changed, then no longer listed, each by label."""
        kind_order = models.Case(
            *(models.When(kind=kind, then=i) for i, kind in enumerate(ChangeKind.values)),
            output_field=models.IntegerField(),
        )
        return self.order_by("-snapshot__date", kind_order, "label", "key")

    def authorisation_news(self):
        """What a journalist follows: CASPs newly listed, no longer listed, or whose end date ESMA set.

        A register's first snapshot is left out: that its rows are "listed" says only where our history starts.
        """
        return self.filter(snapshot__register=Register.CASP, snapshot__previous__isnull=False).filter(
            Q(kind__in=[ChangeKind.LISTED, ChangeKind.REMOVED]) | Q(sets_end_date=True)
        )

    def of_license(self, license):
        """The changes of the CASP row that is ``license`` (its ``official_register_key``), oldest first."""
        if not license.official_register_key:
            return self.none()
        return self.filter(snapshot__register=Register.CASP, key=license.official_register_key).order_by(
            "snapshot__date"
        )

    def with_record_link(self):
        """Joined with the linked licence or entity, whose page is linked only while it is public."""
        return self.select_related("snapshot", "license", "entity").annotate(
            license_public=Exists(License.objects.published().filter(pk=OuterRef("license_id"))),
            entity_public=Exists(Entity.objects.published().filter(pk=OuterRef("entity_id"))),
        )


class FieldChange:
    """One column a change touched: ESMA's values before and after; for a list, the items added and removed."""

    def __init__(self, column, before, after):
        self.column, self.before, self.after = column, before, after
        self.label = label(column)
        self.added = self.removed = ()
        if column in LIST_COLUMNS and before and after:
            old, new = list_items(before), list_items(after)
            self.added = tuple(item for item in new if item not in old)
            self.removed = tuple(item for item in old if item not in new)

    def __str__(self):
        return f"{self.label}: “{self.before or '(blank)'}” → “{self.after or '(blank)'}”"

    def as_dict(self):
        return {"field": self.column, "old": self.before, "new": self.after}


class RegisterChange(models.Model):
    """A record of a register that a snapshot lists for the first time, lists differently, or no longer lists."""

    Kind = ChangeKind

    snapshot = models.ForeignKey(
        RegisterSnapshot, on_delete=models.CASCADE, related_name="changes", help_text="The snapshot that shows it."
    )
    key = models.CharField(
        max_length=200,
        help_text="The record's key within its register across snapshots (for a CASP, its licence's register key).",
    )
    kind = models.CharField(max_length=8, choices=ChangeKind.choices, help_text="What the snapshot shows of it.")
    before = models.JSONField(
        default=dict,
        blank=True,
        help_text="ESMA's cells before, by column (whitespace collapsed): the changed ones; all for no longer listed.",
    )
    after = models.JSONField(
        default=dict,
        blank=True,
        help_text="ESMA's cells in this snapshot, by column (whitespace collapsed): the changed ones; all when listed.",
    )
    label = models.CharField(max_length=400, help_text="The record's name and LEI, as ESMA lists them.")
    row = models.PositiveIntegerField(null=True, blank=True, help_text="Its row in the file (1 = first data row).")
    sets_end_date = models.BooleanField(
        default=False, help_text="ESMA published an authorisation end date for it in this snapshot."
    )
    license = optional_link(
        License, models.SET_NULL, "register_changes", "Our licence for this CASP row, where we hold one."
    )
    entity = optional_link(
        Entity, models.SET_NULL, "register_changes", "Our entity for this row of another register, where we hold one."
    )

    objects = RegisterChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-snapshot__date", "label", "key"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "key"], name="official_change_one_per_record_and_snapshot"),
            choice_constraint("official_change_kind_valid", "kind", ChangeKind),
            models.CheckConstraint(
                condition=Q(license__isnull=True) | Q(entity__isnull=True),
                name="official_change_links_one_record",
                violation_error_message="A change links our licence or our entity, not both.",
            ),
        ]
        indexes = [models.Index(fields=["key", "snapshot"], name="official_change_key")]

    def __str__(self):
        return f"{self.label}: {self.get_kind_display().lower()} in {self.snapshot}"

    def natural_key(self):
        return (*self.snapshot.natural_key(), self.key)

    natural_key.dependencies = ["official.registersnapshot"]

    @property
    def fields(self) -> list[FieldChange]:
        """What the change shows, column by column in the file's order: for a changed record, the cells that
        changed; for one newly listed, each cell it was listed with; for one no longer listed, its last cells."""
        if self.kind == ChangeKind.CHANGED:
            columns = list(dict.fromkeys([*self.after, *self.before]))
            return [FieldChange(c, self.before.get(c, ""), self.after.get(c, "")) for c in columns]
        if self.kind == ChangeKind.LISTED:
            return [FieldChange(c, "", value) for c, value in self.after.items() if value]
        return [FieldChange(c, value, "") for c, value in self.before.items() if value]

    @property
    def end_date(self) -> str:
        """The authorisation end date ESMA published in this change, as written (27/01/2026)."""
        return self.after.get(END_DATE_COLUMN, "") if self.sets_end_date else ""

    @property
    def record_url(self) -> str:
        """Our page for the record, while it is public (read from :meth:`RegisterChangeQuerySet.with_record_link`)."""
        if self.license_id and getattr(self, "license_public", False):
            return self.license.get_absolute_url()
        if self.entity_id and getattr(self, "entity_public", False):
            return self.entity.get_absolute_url()
        return ""
