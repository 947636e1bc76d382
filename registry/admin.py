"""The curation admin: where staff enter and correct every fact the register publishes.

Large tables (jurisdictions, entities, sources…) are picked through
autocomplete widgets; partial dates are one year/month/day input; licences and
audits cannot be saved without citing a source.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets as admin_widgets
from django.db import models
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.forms.models import BaseInlineFormSet

from .forms import AuditAdminForm, LicenseAdminForm, PartialDateModelForm
from .models import (
    Activity,
    Audit,
    AuditCitation,
    Entity,
    EntityAlias,
    EntityCitation,
    EntityKind,
    Jurisdiction,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    LicenseType,
    Publication,
    Regime,
    Regulator,
    Source,
    Standard,
)

admin.site.site_header = "Compliance Registry administration"
admin.site.site_title = "Compliance Registry administration"
admin.site.index_title = "Curation"


def partial_date_display(attname, description, descriptor=None):
    """A changelist column showing a partial date as written ("March 2025"), sortable by its date column."""
    descriptor = descriptor or attname.removesuffix("_on")

    @admin.display(description=description, ordering=attname)
    def display(self, obj):
        value = getattr(obj, descriptor)
        return str(value) if value else None

    display.__name__ = f"{descriptor}_display"
    return display


# ---------------------------------------------------------------------------
# Shared behaviour
# ---------------------------------------------------------------------------


class RegistryAdmin(admin.ModelAdmin):
    # Curators paste addresses without a scheme ("okx.com"): assume https, as Django 6 will.
    formfield_overrides = {models.URLField: {"widget": admin_widgets.AdminURLFieldWidget, "assume_scheme": "https"}}


class CuratedAdmin(RegistryAdmin):
    """Publish and unpublish in bulk; show when a record was created and last changed."""

    actions = ["publish", "unpublish"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.action(description="Publish the selected records", permissions=["change"])
    def publish(self, request, queryset):
        count = queryset.exclude(publication_status=Publication.PUBLISHED).update(
            publication_status=Publication.PUBLISHED
        )
        self.message_user(request, f"Published {count} record(s).", messages.SUCCESS)

    @admin.action(description="Return the selected records to draft", permissions=["change"])
    def unpublish(self, request, queryset):
        count = queryset.exclude(publication_status=Publication.DRAFT).update(publication_status=Publication.DRAFT)
        self.message_user(request, f"Returned {count} record(s) to draft.", messages.SUCCESS)


RECORD_FIELDSET = ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]})


class RequiredCitationFormSet(BaseInlineFormSet):
    """Citations of a licence or audit: at least one, because an uncited claim is never published."""

    default_error_messages = {
        **BaseInlineFormSet.default_error_messages,
        "too_few_forms": "Cite at least one source: every licence and audit must cite where it comes from.",
    }


class CitationInline(admin.TabularInline):
    fields = ["source", "supports", "quote", "locator", "states"]
    autocomplete_fields = ["source"]
    extra = 1
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 50})}}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source")


class RequiredCitationInline(CitationInline):
    formset = RequiredCitationFormSet
    extra = 0
    min_num = 1
    validate_min = True

    def get_formset(self, request, obj=None, **kwargs):
        # InlineModelAdmin does not pass validate_min on by itself: without it,
        # a formset posted with no rows at all would pass.
        kwargs.setdefault("validate_min", self.validate_min)
        return super().get_formset(request, obj, **kwargs)


class LicenseCitationInline(RequiredCitationInline):
    model = LicenseCitation


class AuditCitationInline(RequiredCitationInline):
    model = AuditCitation


class EntityCitationInline(CitationInline):
    model = EntityCitation
    extra = 0


class KeyPersonCitationInline(CitationInline):
    model = KeyPersonCitation


# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------


@admin.register(Jurisdiction)
class JurisdictionAdmin(RegistryAdmin):
    list_display = ["name", "code", "kind", "subdivision_type", "parent"]
    list_filter = ["kind"]
    search_fields = ["^code", "name", "official_name"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent", "members"]
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        """Put the exact code or name first: typing "MT" should offer Malta before Montenegro's regions."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            queryset = queryset.order_by(
                Case(
                    When(Q(code__iexact=term) | Q(name__iexact=term), then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                ),
                "name",
            )
        return queryset, may_have_duplicates


@admin.register(Standard)
class StandardAdmin(RegistryAdmin):
    list_display = ["name", "issuer", "slug"]
    list_filter = ["issuer"]
    search_fields = ["name", "issuer", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class LicenseTypeInline(admin.TabularInline):
    model = LicenseType
    fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    extra = 1
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 60})}}


@admin.register(Regime)
class RegimeAdmin(CuratedAdmin):
    list_display = ["short_name", "name", "jurisdiction", "legal_reference", "publication_status"]
    list_filter = ["publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["short_name", "name", "legal_reference", "slug"]
    list_select_related = ["jurisdiction"]
    autocomplete_fields = ["jurisdiction"]
    prepopulated_fields = {"slug": ["short_name"]}
    inlines = [LicenseTypeInline]


@admin.register(LicenseType)
class LicenseTypeAdmin(RegistryAdmin):
    list_display = ["name", "regime", "slug"]
    list_filter = ["regime"]
    search_fields = ["name", "slug", "regime__short_name", "regime__name"]
    list_select_related = ["regime"]
    autocomplete_fields = ["regime"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        # __str__ names the regime: autocomplete results would query it per row.
        return super().get_queryset(request).select_related("regime")


@admin.register(Activity)
class ActivityAdmin(RegistryAdmin):
    list_display = ["name", "code", "regime", "slug"]
    list_filter = ["regime"]
    search_fields = ["name", "code", "slug", "regime__short_name"]
    list_select_related = ["regime"]
    autocomplete_fields = ["regime"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Regulator)
class RegulatorAdmin(CuratedAdmin):
    list_display = ["name", "abbreviation", "jurisdiction", "website", "publication_status"]
    list_filter = ["publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "abbreviation", "slug", "jurisdiction__name", "jurisdiction__code"]
    list_select_related = ["jurisdiction"]
    autocomplete_fields = ["jurisdiction", "regimes"]
    prepopulated_fields = {"slug": ["abbreviation"]}
    fieldsets = [
        (None, {"fields": ["name", "abbreviation", "slug", "jurisdiction", "website", "regimes"]}),
        ("Publication", {"fields": ["publication_status"]}),
        RECORD_FIELDSET,
    ]


# ---------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------


class EntityAliasInline(admin.TabularInline):
    model = EntityAlias
    fields = ["name", "kind"]
    extra = 1


class AffiliateInline(admin.TabularInline):
    """The group's affiliates, as links: each is edited on its own page."""

    model = Entity
    fk_name = "parent"
    verbose_name = "affiliate"
    verbose_name_plural = "affiliates"
    fields = ["name", "kind", "jurisdiction", "publication_status"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("jurisdiction")


@admin.register(Entity)
class EntityAdmin(CuratedAdmin):
    list_display = ["name", "kind", "parent", "jurisdiction", "lei", "publication_status", "updated_at"]
    list_filter = ["kind", "publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "=lei", "aliases__name"]
    list_select_related = ["parent", "jurisdiction"]
    autocomplete_fields = ["parent", "jurisdiction"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "parent", "jurisdiction", "lei", "website", "description"]}),
        ("Publication", {"fields": ["publication_status"]}),
        RECORD_FIELDSET,
    ]

    def get_inlines(self, request, obj):
        inlines = [EntityAliasInline]
        if obj is not None and (obj.kind == EntityKind.GROUP or obj.affiliates.exists()):
            inlines.append(AffiliateInline)
        return [*inlines, EntityCitationInline]


@admin.register(EntityAlias)
class EntityAliasAdmin(RegistryAdmin):
    list_display = ["name", "kind", "entity"]
    list_filter = ["kind"]
    search_fields = ["name", "entity__name"]
    list_select_related = ["entity"]
    autocomplete_fields = ["entity"]


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


@admin.register(Source)
class SourceAdmin(CuratedAdmin):
    form = PartialDateModelForm
    list_display = ["title", "kind", "publisher", "published_display", "retrieved_on", "publication_status"]
    list_filter = ["kind", "publication_status", "published_on_precision"]
    search_fields = ["title", "publisher", "url", "slug"]
    date_hierarchy = "published_on"
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["sha256", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "kind", "publisher", "url", "published_on", "retrieved_on"]}),
        ("Archived copy", {"fields": ["archived_text", "sha256", "notes"]}),
        ("Publication", {"fields": ["publication_status"]}),
        RECORD_FIELDSET,
    ]

    published_display = partial_date_display("published_on", "published", "publication_date")


# ---------------------------------------------------------------------------
# Licences, audits, key people
# ---------------------------------------------------------------------------


class CitedAdmin(CuratedAdmin):
    """Counts citations in the list, so an uncited (never public) record stands out."""

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(citation_count=Count("citations", distinct=True))

    @admin.display(description="citations", ordering="citation_count")
    def citations_display(self, obj):
        return obj.citation_count


@admin.register(License)
class LicenseAdmin(CitedAdmin):
    form = LicenseAdminForm
    list_display = [
        "holder",
        "license_type",
        "jurisdiction",
        "status",
        "granted_display",
        "ended_display",
        "regulator",
        "publication_status",
        "citations_display",
    ]
    list_filter = ["status", "publication_status", "license_type__regime", "granted_on_precision"]
    search_fields = [
        "slug",
        "reference_number",
        "holder__name",
        "holder__aliases__name",
        "license_type__name",
        "license_type__regime__short_name",
        "regulator__name",
        "regulator__abbreviation",
    ]
    date_hierarchy = "granted_on"
    list_select_related = ["holder", "license_type__regime", "regulator", "jurisdiction"]
    autocomplete_fields = ["holder", "license_type", "regulator", "jurisdiction", "activities", "passported_to"]
    fieldsets = [
        (None, {"fields": ["holder", "license_type", "regulator", "jurisdiction", "status", "reference_number"]}),
        ("Dates", {"fields": ["granted_on", "ended_on"]}),
        (
            "Scope",
            {
                "fields": [
                    "activities",
                    ("serves_retail", "serves_professional", "serves_institutional"),
                    "passported_to",
                    "conditions",
                ]
            },
        ),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]
    inlines = [LicenseCitationInline]

    granted_display = partial_date_display("granted_on", "granted")
    ended_display = partial_date_display("ended_on", "ended")


@admin.register(Audit)
class AuditAdmin(CitedAdmin):
    form = AuditAdminForm
    list_display = [
        "subject",
        "kind",
        "standard",
        "auditor",
        "issued_display",
        "period_start_display",
        "valid_until_display",
        "ongoing",
        "publication_status",
        "citations_display",
    ]
    list_filter = ["kind", "publication_status", "ongoing", "standard"]
    search_fields = ["slug", "reference", "subject__name", "auditor__name", "standard__name", "scope"]
    date_hierarchy = "issued_on"
    list_select_related = ["subject", "standard", "auditor"]
    autocomplete_fields = ["subject", "standard", "auditor"]
    fieldsets = [
        (None, {"fields": ["subject", "kind", "standard", "auditor", "scope", "reference"]}),
        ("Dates", {"fields": ["issued_on", "period_start", "period_end", "ongoing", "valid_until"]}),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]
    inlines = [AuditCitationInline]

    issued_display = partial_date_display("issued_on", "issued", "issued")
    period_start_display = partial_date_display("period_start", "period from", "period_started")
    valid_until_display = partial_date_display("valid_until", "valid until", "valid_until_date")


@admin.register(KeyPerson)
class KeyPersonAdmin(CitedAdmin):
    form = PartialDateModelForm
    list_display = [
        "name",
        "role",
        "entity",
        "started_display",
        "ended_display",
        "publication_status",
        "citations_display",
    ]
    list_filter = ["publication_status"]
    search_fields = ["name", "role", "entity__name"]
    date_hierarchy = "started_on"
    list_select_related = ["entity"]
    autocomplete_fields = ["entity"]
    fieldsets = [
        (None, {"fields": ["entity", "name", "role", "started_on", "ended_on", "notes"]}),
        ("Publication", {"fields": ["publication_status"]}),
        RECORD_FIELDSET,
    ]
    inlines = [KeyPersonCitationInline]

    started_display = partial_date_display("started_on", "started")
    ended_display = partial_date_display("ended_on", "ended")
