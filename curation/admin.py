"""The curation admin: where staff enter and correct every fact the register publishes.

Large tables (jurisdictions, entities, sources…) are picked through
autocomplete widgets; partial dates are one year/month/day input; licences and
audits cannot be saved without citing a source.

Every change to a curated record goes through :mod:`curation.review`: a new
record is a draft, a draft is saved directly, an edit to a published record
becomes a pending :class:`~registry.models.Revision` that another reviewer
approves, and only reviewers publish, never their own edit. Each form asks
why (the history keeps the reason) and carries the version it was opened at,
so a save over someone else's newer edit is refused.

The admin only adapts: :class:`CuratedAdmin` is one mixin per concern (the
change form, the history and deleted records, the publication actions, the
publication pages), each turning forms into calls of :mod:`curation.review`
and its answers and refusals into messages and templates.
"""

import base64
import datetime
import hashlib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator, capfirst
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from curation import review
from curation.forms import (
    REVIEW_FIELDS,
    AuditAdminForm,
    CuratedModelForm,
    HttpsUrlsMixin,
    LicenseAdminForm,
    PartialDateModelForm,
)
from curation.readonly import ReadOnlyMixin
from imports.bulk import AuditResource, EntityResource, LicenseResource, ReviewedImportMixin
from imports.esma import accept_match, decision_refusal, preview_match, reject_match
from imports.esma.registers import BadFile, NoImporter, prepare
from imports.management.commands.import_esma import analyze_registry_tables
from registry.dates import PartialDate
from registry.models import (
    TEXT_PREDATES_OFFICIAL_SOURCE,
    Accreditation,
    AccreditationBody,
    Activity,
    Audit,
    AuditCitation,
    AuditFinding,
    AuditScopeItem,
    AuditStatusChange,
    CryptoAsset,
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
    MatchProposal,
    MatchStatus,
    Publication,
    Regime,
    Regulator,
    ReserveSnapshot,
    Revision,
    Source,
    Standard,
    WarningNotice,
    WhitePaper,
    WhitePaperCitation,
)
from registry.models.base import WORKFLOW_FIELDS

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


def page_context(model_admin, request, title, **context) -> dict:
    """The context of a page of the admin's own (not a change form): the site's, the model's options and media
    (as Django's admin views give them), and a title."""
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "media": model_admin.media,
        **context,
    }


class RegistryAdmin(HttpsUrlsMixin, admin.ModelAdmin):
    """The register's admin pages' base: URL fields assume https."""


# The workflow's fields, read-only; the publication status has a fieldset of its own on each page.
RECORD_FIELDS = [name for name in WORKFLOW_FIELDS if name != "publication_status"]
RECORD_FIELDSET = ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]})
# Bookkeeping every save changes: listing it in a history diff would hide the change that matters.
HISTORY_NOISE = ["updated_at", "version"]


class ReasonForm(forms.Form):
    """The reason a reviewer gives for publishing, unpublishing, deleting or restoring."""

    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Kept in the record's history.",
    )

    def __init__(self, *args, required=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required


def safe_str(obj, fallback: str) -> str:
    # A deleted record's snapshot may point at rows deleted since: its __str__ would fail.
    try:
        return str(obj)
    except ObjectDoesNotExist:
        return fallback


def row_edits(formset) -> review.RowEdits:
    """An inline formset's rows (citations, aliases) as :class:`review.RowEdits`."""

    def deleting(form):
        return formset.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME)

    def names(form, fields):
        # A partial date is one form field and two columns (a status change's date and its precision).
        partial = getattr(form, "_partial_dates", [])
        return [column for name in fields for column in ([name, f"{name}_precision"] if name in partial else [name])]

    kept = [form for form in formset.initial_forms if not deleting(form)]
    return review.RowEdits(
        formset.model,
        created=tuple(
            (form.instance, names(form, form.fields))
            for form in formset.extra_forms
            if form.has_changed() and not deleting(form)
        ),
        changed=tuple((form.instance, names(form, form.changed_data)) for form in kept if form.has_changed()),
        deleted=tuple(form.instance.pk for form in formset.initial_forms if deleting(form)),
    )


def curated_url(opts, view: str, *args) -> str:
    """The URL of one of a curated model's admin views ("change", "publish", "deleted"…)."""
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


# ---------------------------------------------------------------------------
# What a reviewer publishes: the record's public content, its differences, what it waits for
# ---------------------------------------------------------------------------

NOT_CONTENT = {*WORKFLOW_FIELDS, *REVIEW_FIELDS}
SHOWN_TEXT = 600  # characters of a long text shown on the publish page; the change form has the rest


def admin_url(record) -> str:
    """The record's admin change page, or "" when its model has none."""
    try:
        return reverse(f"admin:{record._meta.app_label}_{record._meta.model_name}_change", args=[record.pk])
    except NoReverseMatch:
        return ""


def record_link(record, text=None):
    url, text = admin_url(record), text or str(record)
    return format_html('<a href="{}">{}</a>', url, text) if url else text


def _partial_date(record, field):
    precision = f"{field.attname}_precision"
    if not any(f.attname == precision for f in record._meta.concrete_fields):
        return None
    return PartialDate.from_columns(getattr(record, field.attname), getattr(record, precision))


def value_display(record, field) -> str:
    """A field's value as a reviewer reads it, from a record or from one of its history rows."""
    if field.many_to_many:
        items = list(getattr(record, field.name).all())
        if hasattr(record, "history_id"):  # a history row holds its own rows of the through table
            items = [getattr(item, field.m2m_reverse_field_name()) for item in items]
        return ", ".join(sorted(str(item) for item in items)) or "—"
    value = getattr(record, field.attname)
    if value is None or value == "" or value == []:
        return "—"
    partial = _partial_date(record, field)
    if partial is not None:
        return str(partial)
    if field.is_relation:
        return safe_str(getattr(record, field.name), f"#{value}")
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.date):
        return str(PartialDate(value))
    if isinstance(value, list):  # data-quality flags
        return "; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in value)
    return Truncator(str(value)).chars(SHOWN_TEXT)


def citations_display(obj, at=None) -> str:
    """The record's citations (at the instant ``at``, from their history), one per line; "" when it has none."""
    try:
        relation = obj._meta.get_field("citations")
    except FieldDoesNotExist:
        return ""
    citation_model, target = relation.related_model, relation.field.attname
    if at is None:
        rows = list(citation_model.objects.filter(**{target: obj.pk}).select_related("source"))
    else:
        latest = {}
        history = citation_model.history.filter(**{target: obj.pk}, history_date__lte=at).select_related("source")
        for row in history.order_by("history_date", "history_id"):
            latest[row.id] = row
        rows = [row for row in latest.values() if row.history_type != "-"]
    lines = []
    for row in rows:
        supports = f", for the {row.get_supports_display().lower()}" if row.supports else ""
        lines.append(f"{safe_str(row.source, '#' + str(row.source_id))}{supports}")
    return "\n".join(sorted(lines))


def publication_content(fields, obj) -> list[tuple[str, str]]:
    """``(label, value)`` of each public field of ``obj``, then its citations: what publishing puts live."""
    rows = [(capfirst(field.verbose_name), value_display(obj, field)) for field in fields]
    citations = citations_display(obj)
    return rows + ([("Citations", citations)] if citations else [])


def publication_differences(fields, obj):
    """``(last published history row, [(label, then, now)])``; (None, []) for a record never published."""
    history = obj.history.order_by("-history_date", "-history_id")
    published = history.filter(publication_status=Publication.PUBLISHED).exclude(history_type="-").first()
    current = history.first()
    if published is None or current is None:
        return None, []
    rows = []
    for field in fields:
        then, now = value_display(published, field), value_display(current, field)
        if then != now:
            rows.append((capfirst(field.verbose_name), then, now))
    then, now = citations_display(obj, at=published.history_date), citations_display(obj)
    if then != now:
        rows.append(("Citations", then or "—", now or "—"))
    return published, rows


def waiting_text(obj):
    """Why a published ``obj`` is not public yet: the drafts it waits for, linked to their admin pages."""
    waiting = review.draft_dependencies(obj)
    if waiting:
        return format_html_join(
            ", ", "{} {}", ((dependency.role, record_link(dependency.record)) for dependency in waiting)
        )
    return "a citation of a source (it cites none)"


def outcome_message(obj):
    """The truth after publishing ``obj``: public now (with its public page), or what it still waits for."""
    if review.is_public(obj):
        url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""
        link = format_html(' <a href="{}">View it on the site</a>.', url) if url else ""
        return format_html("“{}” was published and is now public.{}", obj, link), messages.SUCCESS
    return (
        format_html("“{}” was published but is not public yet: it waits for {}.", obj, waiting_text(obj)),
        messages.WARNING,
    )


class PublishForm(ReasonForm):
    """The reviewer's note, and the drafts the record waits for to publish with it."""

    def __init__(self, *args, dependencies=(), **kwargs):
        super().__init__(*args, required=False, **kwargs)
        self.dependencies = {f"{d.record._meta.label_lower}:{d.record.pk}": d for d in dependencies}
        self.fields["together"] = forms.MultipleChoiceField(
            label="Publish with it",
            required=False,
            choices=[(key, str(d)) for key, d in self.dependencies.items()],
            widget=forms.CheckboxSelectMultiple,
        )

    def chosen(self):
        return [self.dependencies[key].record for key in self.cleaned_data["together"]]


class NeedsVerificationFilter(admin.SimpleListFilter):
    title = "verification"
    parameter_name = "verification"

    def lookups(self, request, model_admin):
        return [("stale", "Needs verification (not in 12 months)"), ("fresh", "Verified in the last 12 months")]

    def queryset(self, request, queryset):
        if self.value() == "stale":
            return queryset.stale()
        if self.value() == "fresh":
            return queryset.exclude(pk__in=self.model_stale(queryset))
        return queryset

    @staticmethod
    def model_stale(queryset):
        return queryset.model._default_manager.stale().values("pk")


# ---------------------------------------------------------------------------
# Curated records: CuratedAdmin, one mixin per concern, each calling curation.review
# ---------------------------------------------------------------------------


class EditingMixin:
    """The change form: a draft is saved, an edit of a published record becomes a pending revision."""

    def get_readonly_fields(self, request, obj=None):
        # Publication changes only through publish/unpublish, never by editing the field.
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [name for name in WORKFLOW_FIELDS if name not in fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (name, {**options, "fields": [f for f in options["fields"] if f not in REVIEW_FIELDS]})
            for name, options in super().get_fieldsets(request, obj)
        ]
        return [*fieldsets, ("Your change", {"fields": REVIEW_FIELDS})]

    def get_actions(self, request):
        # Deleting asks for a reason on its confirmation page; the bulk action would not.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data["change_reason"]
        obj._history_user = request.user
        if not change:
            review.save_edit(obj, user=request.user, reason=reason, is_new=True)
        elif review.stored_as_published(obj):
            # Nothing is written: save_related() turns the whole form into a pending revision.
            request._registry_proposal = True
        else:
            review.save_edit(obj, user=request.user, reason=reason, base_version=form.cleaned_data["base_version"])

    def save_related(self, request, form, formsets, change):
        reason = form.cleaned_data["change_reason"]
        if getattr(request, "_registry_proposal", False):
            request._registry_revision = review.propose_edit(
                form.instance,
                author=request.user,
                reason=reason,
                base_version=form.cleaned_data["base_version"],
                **self.edits(form, formsets),
            )
            return
        form.save_m2m()
        for formset in formsets:
            for inline_form in formset.forms:
                inline_form.instance._change_reason = reason
                inline_form.instance._history_user = request.user
            self.save_formset(request, form, formset, change=change)

    def edits(self, form, formsets) -> dict:
        """What the form changes, as :func:`review.propose_edit` takes it (a partial date is two columns)."""
        partial_dates = getattr(form, "_partial_dates", [])
        fields = []
        for name in form.changed_data:
            fields += [name, f"{name}_precision"] if name in partial_dates else [name]
        many = {field.name for field in self.model._meta.many_to_many}
        return {
            "fields": fields,
            "m2m": {name: form.cleaned_data[name] for name in form.changed_data if name in many},
            "rows": [row_edits(formset) for formset in formsets],
        }

    def construct_change_message(self, request, form, formsets, add=False):
        # A proposal saved no inline rows: the default message would read the formsets' saved rows.
        if getattr(request, "_registry_proposal", False):
            return ""
        return super().construct_change_message(request, form, formsets, add)

    def log_change(self, request, obj, message):
        if getattr(request, "_registry_proposal", False):
            revision = getattr(request, "_registry_revision", None)
            message = f"Proposed a change for review (revision {revision.pk})." if revision else "Saved unchanged."
        return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            "It is saved as a draft: it goes live when a reviewer other than its last editor publishes it.",
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if not getattr(request, "_registry_proposal", False):
            return super().response_change(request, obj)
        revision = getattr(request, "_registry_revision", None)
        if revision is None:
            self.message_user(request, "Nothing changed, so there is nothing to review.", messages.INFO)
        else:
            self.message_user(
                request,
                format_html(
                    'Your change is waiting for review: <a href="{}">revision {}</a>. The public keeps seeing the '
                    "published version until a reviewer other than you approves it.",
                    reverse("admin:registry_revision_change", args=[revision.pk]),
                    revision.pk,
                ),
                messages.WARNING,
            )
        return HttpResponseRedirect(curated_url(self.opts, "change", obj.pk))

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST" and not request.POST.get("change_reason", "").strip():
            self.message_user(request, "Say why the record is deleted: the history keeps the reason.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        obj._change_reason = request.POST.get("change_reason", "").strip()
        obj._history_user = request.user
        super().delete_model(request, obj)


class HistoryMixin:
    """The record's history with differences (its citations' too), and its deleted records, restored as drafts."""

    def revert_disabled(self, request, obj=None):
        # Reverting from history would put an old version live without review.
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        previous = None
        for current in historical_records:
            if previous is not None:
                delta = previous.diff_against(
                    current, excluded_fields=HISTORY_NOISE, foreign_keys_are_objs=foreign_keys_are_objs
                )
                helper = self.get_historical_record_context_helper(request, previous)
                previous.history_delta_changes = helper.context_for_delta_changes(delta)
            previous = current

    def history_view(self, request, object_id, extra_context=None):
        context = {"related_history": self.related_history(unquote(object_id)), **(extra_context or {})}
        return super().history_view(request, object_id, context)

    def related_history(self, object_id, limit=100):
        """The history of the record's citations and aliases, newest first, with what changed."""
        sections = []
        for related, field in review.cascade_children(self.model):
            rows = list(
                related.history.filter(**{field.attname: object_id})
                .select_related("history_user")
                .order_by("-history_date", "-history_id")[:limit]
            )
            entries = []
            for row in rows:
                changes = []
                if row.history_type == "~" and row.prev_record is not None:
                    delta = row.diff_against(row.prev_record, foreign_keys_are_objs=False)
                    changes = [(change.field, change.old, change.new) for change in delta.changes]
                entries.append({"row": row, "label": safe_str(row.instance, f"#{row.id}"), "changes": changes})
            if entries:
                sections.append({"name": related._meta.verbose_name_plural, "entries": entries})
        return sections

    def deleted_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        entries = [
            {
                "row": row,
                "label": safe_str(row.instance, f"{self.opts.verbose_name} #{row.id}"),
                "restore_url": curated_url(self.opts, "restore", row.history_id),
            }
            for row in review.deleted_records(self.model)
        ]
        context = page_context(
            self,
            request,
            f"Deleted {self.opts.verbose_name_plural}",
            entries=entries,
            can_restore=review.can_review(request.user) and self.has_add_permission(request),
            form=ReasonForm(),
        )
        return TemplateResponse(request, "admin/registry/curated/deleted.html", context)

    def restore_view(self, request, history_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        deleted_url = curated_url(self.opts, "deleted")
        if not (review.can_review(request.user) and self.has_add_permission(request)):
            self.message_user(request, "Only a reviewer can restore a deleted record.", messages.ERROR)
            return HttpResponseRedirect(deleted_url)
        row = get_object_or_404(self.model.history, history_id=history_id, history_type="-")
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            obj, skipped = review.restore(row, user=request.user, reason=reason)
        except (PermissionDenied, ValidationError) as exc:
            code = getattr(exc, "code", None)
            text = review.message_of(exc)
            if code not in ("restored", "no_reason"):
                text = f"The record could not be restored: {text}"
            self.message_user(request, text, messages.INFO if code == "restored" else messages.ERROR)
            return HttpResponseRedirect(deleted_url)
        self.message_user(
            request, f"“{obj}” was restored as a draft: a reviewer must publish it again.", messages.SUCCESS
        )
        for label, why in skipped:
            self.message_user(request, f"{label} was not restored: {why}", messages.WARNING)
        return HttpResponseRedirect(curated_url(self.opts, "change", obj.pk))


class PublicationActionsMixin:
    """The changelist's Publish and Return to draft actions: each asks first, then calls :mod:`curation.review`."""

    @admin.action(description="Publish the selected drafts (reviewers only)…", permissions=["change"])
    def publish(self, request, queryset):
        """Publishing asks first, on a page listing what goes live and what stays hidden, and why."""
        if not review.can_review(request.user):
            return self.refuse_each(request, queryset, review.publish_refusal, "was not published")
        if "confirm" not in request.POST:
            return self.publish_confirmation(request, queryset)
        published = public = 0
        changed = self.each_changed(
            request,
            queryset,
            lambda obj: review.publish(obj, reviewer=request.user),
            to_published=True,
            failed="was not published",
        )
        for obj in changed:
            published += 1
            if review.is_public(obj):
                public += 1
            else:
                self.message_user(request, *outcome_message(obj))
        if published:
            self.message_user(request, published_message(published, public), messages.SUCCESS)
        return None

    def publish_confirmation(self, request, queryset):
        groups = {"live": [], "hidden": [], "refused": [], "published": []}
        for obj in queryset:
            entry = {"obj": obj, "url": admin_url(obj)}
            refusal = review.publish_refusal(obj, request.user)
            if obj.is_published:
                groups["published"].append({**entry, "waiting": None if review.is_public(obj) else waiting_text(obj)})
            elif refusal:
                groups["refused"].append({**entry, "reason": refusal})
            elif review.becomes_public(obj):
                groups["live"].append(entry)
            else:
                publish_url = curated_url(self.opts, "publish", obj.pk)
                groups["hidden"].append({**entry, "waiting": waiting_text(obj), "publish_url": publish_url})
        return self.action_page(request, queryset, "Publish: check what goes live", "publish", groups=groups)

    @admin.action(description="Return the selected records to draft (reviewers only)…", permissions=["change"])
    def unpublish(self, request, queryset):
        if not review.can_review(request.user):
            return self.refuse_each(request, queryset, review.unpublish_refusal, "was not returned to draft")
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            return self.action_page(request, queryset, "Return to draft: say why", "unpublish", form=form)
        reason = form.cleaned_data["reason"]
        changed = self.each_changed(
            request,
            queryset,
            lambda obj: review.unpublish(obj, reviewer=request.user, reason=reason),
            to_published=False,
            failed="was not changed",
        )
        count = sum(1 for _ in changed)
        if count:
            text = ngettext("Returned %(count)d record to draft.", "Returned %(count)d records to draft.", count)
            self.message_user(request, text % {"count": count}, messages.SUCCESS)
        return None

    def refuse_each(self, request, queryset, refusal, outcome):
        """Someone who may not review asked: each selected record is said refused, and why; nothing changes."""
        for obj in queryset:
            self.message_user(request, f"“{obj}” {outcome}: {refusal(obj, request.user)}", messages.ERROR)

    def each_changed(self, request, queryset, act, *, to_published, failed):
        """Yields the selected records ``act`` changed; of each other one, a message says why not (it was
        already as asked, or ``act`` refused it: ``failed`` words that). Lazy, so messages keep the records' order."""
        already = "is already published." if to_published else "is already a draft."
        for obj in queryset:
            if obj.is_published == to_published:
                self.message_user(request, f"“{obj}” {already}", messages.INFO)
                continue
            try:
                act(obj)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"“{obj}” {failed}: {review.message_of(exc)}", messages.ERROR)
                continue
            yield obj

    def action_page(self, request, queryset, title, action, **context):
        """The page an action asks on before it acts: ``admin/registry/curated/<action>_confirmation.html``."""
        context = page_context(
            self,
            request,
            title,
            queryset=queryset,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            **context,
        )
        return TemplateResponse(request, f"admin/registry/curated/{action}_confirmation.html", context)


def published_message(published: int, public: int) -> str:
    """The publish action's summary: how many records went live, and how many of them the public sees."""
    if published == 1:
        return "Published 1 record; it is now public." if public else "Published 1 record; it is not public yet."
    text = ngettext(
        "Published %(count)d record; %(public)d of them now public.",
        "Published %(count)d records; %(public)d of them now public.",
        published,
    )
    return text % {"count": published, "public": public}


class PublicationPagesMixin:
    """A record's Publish and Return to draft pages, and the publication panel of its change page."""

    def publication_view(self, request, object_id, action):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        if action == "publish":
            return self.publish_view(request, obj)
        return self.unpublish_view(request, obj)

    def unpublish_view(self, request, obj):
        change_url = curated_url(self.opts, "change", obj.pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                review.unpublish(obj, reviewer=request.user, reason=form.cleaned_data["reason"])
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"“{obj}” was not changed: {review.message_of(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"“{obj}” was returned to draft.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = self.publication_context(request, obj, "unpublish", form)
        return TemplateResponse(request, "admin/registry/curated/publication.html", context)

    def publish_view(self, request, obj):
        """Publish one record: its content and its differences from its last published version, the drafts it
        waits for (to publish with it, four eyes for each), and afterwards whether the public can see it."""
        change_url = curated_url(self.opts, "change", obj.pk)
        form = PublishForm(request.POST or None, dependencies=review.draft_dependencies(obj))
        if request.method == "POST" and obj.is_published:
            self.message_user(request, f"“{obj}” is already published.", messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"] or "Published after review"
            try:
                review.publish(obj, reviewer=request.user, reason=reason, together=form.chosen())
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"“{obj}” was not published: {review.message_of(exc)}", messages.ERROR)
            else:
                obj.refresh_from_db()
                self.message_user(request, *outcome_message(obj))
            return HttpResponseRedirect(change_url)
        fields = [
            field
            for field in (self.model._meta.get_field(name) for name in self.content_names(request, obj))
            if field.concrete or field.many_to_many
        ]
        last_published, differences = publication_differences(fields, obj)
        rows = []
        for key, dependency in form.dependencies.items():
            own = dependency.record.last_edited_by_id == request.user.pk
            rows.append({"key": key, "dependency": dependency, "url": admin_url(dependency.record), "own": own})
        if request.method != "POST":
            form.initial["together"] = [row["key"] for row in rows if not row["own"]]
        context = {
            **self.publication_context(request, obj, "publish", form),
            "content": publication_content(fields, obj),
            "last_published": last_published,
            "differences": differences,
            "dependencies": rows,
            "several_sources": sum(row["dependency"].role == "source" for row in rows) > 1,
            "public_alone": review.becomes_public(obj),
        }
        return TemplateResponse(request, "admin/registry/curated/publication.html", context)

    def content_names(self, request, obj):
        """The model fields the form shows, less publication bookkeeping: what the public will read."""
        names = []
        for name in flatten_fieldsets(self.get_fieldsets(request, obj)):
            try:
                self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if name not in NOT_CONTENT:
                names.append(name)
        return names

    def publication_context(self, request, obj, action, form):
        refusal = review.publish_refusal if action == "publish" else review.unpublish_refusal
        return page_context(
            self,
            request,
            f"{'Publish' if action == 'publish' else 'Return to draft'}: {obj}",
            object=obj,
            action=action,
            form=form,
            refusal=refusal(obj, request.user),
            change_url=curated_url(self.opts, "change", obj.pk),
        )

    def view_on_site(self, obj):
        """The public page, offered only when the public can open it (published is not enough)."""
        if not hasattr(obj, "get_absolute_url") or not review.is_public(obj):
            return None
        return obj.get_absolute_url()

    def review_context(self, request, obj) -> dict:
        """What the change page shows above the form: status, pending revisions, publish buttons."""
        return {
            "record": obj,
            "pending_revisions": list(Revision.objects.pending().for_object(obj).select_related("author")),
            "publish_url": curated_url(self.opts, "publish", obj.pk),
            "unpublish_url": curated_url(self.opts, "unpublish", obj.pk),
            "can_review": review.can_review(request.user),
            "publish_refusal": review.publish_refusal(obj, request.user),
            "unpublish_refusal": review.unpublish_refusal(obj, request.user),
            "needs_verification": obj.needs_verification() if hasattr(obj, "needs_verification") else False,
            "waiting": waiting_text(obj) if obj.is_published and not review.is_public(obj) else "",
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        context = {"review": self.review_context(request, obj)} if obj is not None else {}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})


class CuratedAdmin(
    EditingMixin, HistoryMixin, PublicationActionsMixin, PublicationPagesMixin, SimpleHistoryAdmin, RegistryAdmin
):
    """A curated record's admin: history with differences, four-eyes publishing, no lost edits.

    A thin adapter: its forms, messages and templates call :mod:`curation.review`,
    which makes every change of publication state and builds every revision.
    Subclasses (and mixins such as django-import-export's) only add columns,
    fields and inlines.
    """

    form = CuratedModelForm
    actions = ["publish", "unpublish"]
    change_form_template = "admin/registry/curated/change_form.html"
    change_list_template = "admin/registry/curated/change_list.html"
    object_history_template = "admin/registry/curated/object_history.html"
    delete_confirmation_template = "admin/registry/curated/delete_confirmation.html"

    class Media:
        css = {"all": ["registry/admin/review.css"]}

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        custom = [
            path("deleted/", view(self.deleted_view), name="{}_{}_deleted".format(*info)),
            path("deleted/<int:history_id>/restore/", view(self.restore_view), name="{}_{}_restore".format(*info)),
            path(
                "<path:object_id>/publish/",
                view(self.publication_view),
                {"action": "publish"},
                name="{}_{}_publish".format(*info),
            ),
            path(
                "<path:object_id>/unpublish/",
                view(self.publication_view),
                {"action": "unpublish"},
                name="{}_{}_unpublish".format(*info),
            ),
        ]
        return custom + super().get_urls()


class VerifiedAdmin(CuratedAdmin):
    """Licences and audits: flags those not checked against their sources in 12 months.

    The flag is computed from ``last_verified_on`` and today's date on every
    request (``stale()``), never stored, so no scheduled job can miss it.
    """

    def get_queryset(self, request):
        # The flag of each row from the query that lists it (VerifiableQuerySet's one rule), not a query a row.
        return super().get_queryset(request).with_verification()

    @admin.display(description="last verified", ordering="last_verified_on")
    def verification_display(self, obj):
        stale = obj.needs_verification()
        day = obj.verified_on
        when = f"{day.day} {day:%B %Y}" + (" (created)" if obj.last_verified_on is None else "")
        if stale:
            return format_html(
                '<span class="needs-verification" title="Not verified in the last 12 months">'
                '<span aria-hidden="true">⚠</span> {} <span class="needs-verification-label">'
                "(needs verification)</span></span>",
                when,
            )
        return when


class RequiredCitationFormSet(BaseInlineFormSet):
    """Citations of a licence or audit: at least one, because an uncited claim is never published."""

    default_error_messages = {
        **BaseInlineFormSet.default_error_messages,
        "too_few_forms": "Cite at least one source: every licence and audit must cite where it comes from.",
    }


class RecordPartInline(HttpsUrlsMixin, admin.TabularInline):
    """Rows that are part of their record (citations, aliases): whoever may edit the record may remove one.

    Removing a wrong citation is an edit of the record, reviewed like any
    other (a pending revision when the record is published); curators hold
    no delete permission for whole records.
    """

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class SourceCitingInline(RecordPartInline):
    """Rows that name the source they come from (citations, and the rows that carry their own citation)."""

    autocomplete_fields = ["source"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source")


class CitationInline(SourceCitingInline):
    fields = ["source", "supports", "quote", "locator", "states"]
    extra = 1
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 50})}}


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


class SourcedRowInline(SourceCitingInline):
    """Rows of a record that cite their own source (status changes, findings, reserve figures, accreditations):
    edited with the record, so a published record's change waits for review like its citations'."""

    form = PartialDateModelForm
    extra = 0
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 40})}}


class AuditStatusChangeInline(SourcedRowInline):
    model = AuditStatusChange
    fields = ["status", "effective_on", "reason", "source", "quote", "locator"]


class AuditScopeItemInline(RecordPartInline):
    model = AuditScopeItem
    fields = ["name", "position"]
    extra = 0


class AuditFindingInline(SourcedRowInline):
    model = AuditFinding
    fields = ["severity", "count", "resolved", "source", "quote", "locator"]


class ReserveSnapshotInline(SourcedRowInline):
    """A proof-of-reserves report's figures: a row per asset, and one with no asset for its totals."""

    model = ReserveSnapshot
    template = "admin/edit_inline/stacked.html"
    fields = [
        ("as_of", "asset"),
        ("assets", "liabilities", "reserve_ratio"),
        ("liabilities_merkle_tree", "wallets_attested"),
        ("report_url", "tool_url"),
        ("source", "locator"),
        "quote",
    ]


class AccreditationInline(SourcedRowInline):
    """Who vouches for a certification body or audit firm: shown on the audit pages it performed."""

    model = Accreditation
    fk_name = "holder"
    template = "admin/edit_inline/stacked.html"
    fields = [("body", "standard", "reference"), "scope", ("granted_on", "valid_until"), ("source", "locator"), "quote"]
    autocomplete_fields = ["body", "standard", "source"]


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


@admin.register(AccreditationBody)
class AccreditationBodyAdmin(RegistryAdmin):
    """Reference data, as standards are; whether it signed the IAF MLA is said only with the source saying so."""

    list_display = ["name", "abbreviation", "kind", "jurisdiction", "iaf_mla_signatory"]
    list_filter = ["kind", "iaf_mla_signatory"]
    search_fields = ["name", "abbreviation", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["jurisdiction", "iaf_mla_source"]


class LicenseTypeInline(HttpsUrlsMixin, admin.TabularInline):
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
    fieldsets = [
        (None, {"fields": ["short_name", "name", "slug", "jurisdiction", "legal_reference", "url", "description"]}),
        ("Publication", {"fields": ["publication_status"]}),
        RECORD_FIELDSET,
    ]
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


class EntityAliasInline(RecordPartInline):
    model = EntityAlias
    fields = ["name", "kind"]
    extra = 1


class AffiliateInline(HttpsUrlsMixin, admin.TabularInline):
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


class QualityFlagFilter(admin.SimpleListFilter):
    """Records an importer flagged (an LEI failing ISO 17442, an unknown country code…)."""

    title = "data-quality flags"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged"), ("no", "No flags")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(quality_flags=[])
        if self.value() == "no":
            return queryset.filter(quality_flags=[])
        return queryset


class LicenseQualityFlagFilter(QualityFlagFilter):
    """Also: licences whose free text predates their official-register source (a curator should revisit it)."""

    def lookups(self, request, model_admin):
        return [*super().lookups(request, model_admin), ("text", "Text to check against the official register")]

    def queryset(self, request, queryset):
        if self.value() == "text":
            return queryset.filter(quality_flags__icontains=TEXT_PREDATES_OFFICIAL_SOURCE)
        return super().queryset(request, queryset)


@admin.display(description="data-quality flags")
def quality_flags_display(obj):
    if not obj.quality_flags:
        return ""
    messages_text = "\n".join(flag["message"] for flag in obj.quality_flags)
    count = len(obj.quality_flags)
    text = ngettext("%(count)d flag", "%(count)d flags", count) % {"count": count}
    return format_html('<span title="{}">{}</span>', messages_text, text)


@admin.register(Entity)
class EntityAdmin(ReviewedImportMixin, CuratedAdmin):
    resource_classes = [EntityResource]
    list_display = [
        "name",
        "kind",
        "parent",
        "jurisdiction",
        "lei",
        "publication_status",
        "updated_at",
        quality_flags_display,
    ]
    list_filter = ["kind", "publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter), QualityFlagFilter]
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
        if obj is not None and (obj.kind == EntityKind.AUDITOR or obj.accreditations.exists()):
            inlines.append(AccreditationInline)
        return [*inlines, EntityCitationInline]


@admin.register(EntityAlias)
class EntityAliasAdmin(ReadOnlyMixin, SimpleHistoryAdmin, RegistryAdmin):
    """Aliases are listed and searched here but edited on their entity's page.

    An alias of a published entity is a public fact: changing it here would
    skip the entity's four-eyes review, so this page is read-only.
    """

    list_display = ["name", "kind", "entity"]
    list_filter = ["kind"]
    search_fields = ["name", "entity__name"]
    list_select_related = ["entity"]
    autocomplete_fields = ["entity"]

    def revert_disabled(self, request, obj=None):
        return True


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


@admin.register(Source)
class SourceAdmin(CuratedAdmin):
    list_display = ["title", "kind", "publisher", "published_display", "retrieved_on", "publication_status"]
    list_filter = ["kind", "publication_status", "published_on_precision"]
    search_fields = ["title", "publisher", "url", "slug"]
    date_hierarchy = "published_on"
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["sha256"]
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
class LicenseAdmin(ReviewedImportMixin, CitedAdmin, VerifiedAdmin):
    resource_classes = [LicenseResource]
    form = LicenseAdminForm
    # Fits 1366 px beside the admin's two sidebars (registry/admin/widths.css lets cells wrap): the holder, the
    # licence type and where it was granted share a column; the regulator and the end date are on the change
    # form (the status says whether a licence ended).
    list_display = [
        "licence_display",
        "status",
        "granted_display",
        "publication_status",
        "citations_display",
        "verification_display",
        quality_flags_display,
    ]
    list_filter = [
        "status",
        "publication_status",
        NeedsVerificationFilter,
        "license_type__regime",
        "granted_on_precision",
        LicenseQualityFlagFilter,
    ]
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
    list_select_related = ["holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction"]
    autocomplete_fields = ["holder", "license_type", "regulator", "jurisdiction", "activities", "passported_to"]
    fieldsets = [
        (None, {"fields": ["holder", "license_type", "regulator", "jurisdiction", "status", "reference_number"]}),
        ("Dates", {"fields": ["granted_on", "ended_on", "last_verified_on"]}),
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

    class Media:
        css = {"all": ["registry/admin/widths.css"]}

    @admin.display(description="licence", ordering="holder_name")
    def licence_display(self, obj):
        """The holder (the link to the licence), then its type and where it was granted, on a line of their own.

        Where it was granted as the public pages name it (License.granted_in): "Malta (MT)"; the regime's
        jurisdiction, said to be, when the source states none.
        """
        home = str(obj.granted_in)
        if not obj.granted_in_stated:
            home += ", not stated by the source: the regime's"
        return format_html('{}<span class="licence-type">{}, {}</span>', obj.holder.name, obj.license_type, home)


@admin.register(Audit)
class AuditAdmin(ReviewedImportMixin, CitedAdmin, VerifiedAdmin):
    resource_classes = [AuditResource]
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
        "verification_display",
    ]
    list_filter = ["kind", "publication_status", NeedsVerificationFilter, "ongoing", "standard"]
    search_fields = [
        "slug",
        "reference",
        "subject__name",
        "subject__aliases__name",
        "auditor__name",
        "standard__name",
        "scope",
    ]
    date_hierarchy = "issued_on"
    list_select_related = ["subject", "standard", "auditor"]
    autocomplete_fields = ["subject", "standard", "auditor"]
    fieldsets = [
        (None, {"fields": ["subject", "kind", "standard", "auditor", "scope", "reference"]}),
        (
            "Dates",
            {"fields": ["issued_on", "period_start", "period_end", "ongoing", "valid_until", "last_verified_on"]},
        ),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]
    inlines = [
        AuditCitationInline,
        AuditStatusChangeInline,
        AuditScopeItemInline,
        AuditFindingInline,
        ReserveSnapshotInline,
    ]

    issued_display = partial_date_display("issued_on", "issued", "issued")
    period_start_display = partial_date_display("period_start", "period from", "period_started")
    valid_until_display = partial_date_display("valid_until", "valid until", "valid_until_date")


@admin.register(KeyPerson)
class KeyPersonAdmin(CitedAdmin):
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


# ---------------------------------------------------------------------------
# Review: pending revisions and drafts
# ---------------------------------------------------------------------------


class DecisionForm(forms.Form):
    note = forms.CharField(
        label="Note to the author",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required to reject: say why, so the author can act on it.",
    )


class DecisionAdmin(HttpsUrlsMixin, admin.ModelAdmin):
    """Workflow records a reviewer decides on (revisions, match proposals): their page, which stands in for the
    change form, shows the record and the decision form (:meth:`decision_view`); none is added or deleted by hand.
    """

    class Media:
        css = {"all": ["registry/admin/review.css"]}

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return self.decision_view(request, obj)

    def decision_view(self, request, obj):
        raise NotImplementedError


@admin.register(Revision)
class RevisionAdmin(DecisionAdmin):
    """Edits to published records waiting for a second pair of eyes.

    Revisions are never edited by hand: the detail page shows the differences
    and offers Approve / Reject, which go through :mod:`curation.review`.
    """

    list_display = ["record_display", "content_type", "author", "created_at", "status", "reason", "reviewer"]
    list_filter = [
        "status",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("author", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["content_type", "author", "reviewer"]
    search_fields = ["reason", "summary", "author__username"]
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="record")
    def record_display(self, obj):
        ct = obj.content_type
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[obj.object_id])
        except NoReverseMatch:  # a model without an admin page: show the text only
            url = None
        label = f"{ct.name} #{obj.object_id}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("queue/", view(self.queue_view), name="registry_revision_queue"), *super().get_urls()]

    def decision_view(self, request, revision):
        url = reverse("admin:registry_revision_change", args=[revision.pk])
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decision = request.POST.get("decision")
            note = form.cleaned_data["note"]
            try:
                if decision == "approve":
                    review.approve(revision, reviewer=request.user, note=note)
                    self.message_user(request, "The change was approved: it is live now.", messages.SUCCESS)
                elif decision == "reject":
                    review.reject(revision, reviewer=request.user, note=note)
                    self.message_user(request, "The change was rejected; the record is unchanged.", messages.SUCCESS)
            except ObjectDoesNotExist:
                self.message_user(request, "The record was deleted: this change cannot be applied.", messages.ERROR)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"Nothing was changed: {review.message_of(exc)}", messages.ERROR)
            return HttpResponseRedirect(url)
        target = review.target_of(revision)
        refusal = review.decision_refusal(revision, request.user, target)
        ct = revision.content_type
        context = page_context(
            self,
            request,
            f"Review: {revision}",
            revision=revision,
            target=target,
            target_url=reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[target.pk]) if target else "",
            history_url=reverse(f"admin:{ct.app_label}_{ct.model}_history", args=[target.pk]) if target else "",
            differences=review.describe(target, revision.changes) if target is not None else [],
            outdated=target is not None and target.version != revision.base_version,
            refusal=refusal,
            form=form,
        )
        return TemplateResponse(request, "admin/registry/revision/detail.html", context)

    def queue_view(self, request):
        """Everything waiting for a reviewer: pending revisions, then drafts of each kind of record."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        revisions = Revision.objects.pending().select_related("author", "content_type").order_by("created_at")
        revision_rows = []
        for revision in revisions:
            revision_rows.append({"revision": revision, "target": review.target_of(revision)})
        draft_sections = []
        for model, model_admin in self.admin_site._registry.items():
            if not isinstance(model_admin, CuratedAdmin) or not model_admin.has_view_or_change_permission(request):
                continue
            info = model._meta.app_label, model._meta.model_name
            drafts = model._default_manager.filter(publication_status=Publication.DRAFT)
            related = model_admin.list_select_related
            related = list(related) if isinstance(related, list | tuple) else []
            rows = drafts.select_related("last_edited_by", *related).order_by("-updated_at")[:200]
            draft_sections.append(
                {
                    "opts": model._meta,
                    "changelist_url": reverse("admin:{}_{}_changelist".format(*info))
                    + f"?publication_status__exact={Publication.DRAFT}",
                    "deleted_url": reverse("admin:{}_{}_deleted".format(*info)),
                    "rows": [
                        {
                            "obj": obj,
                            "url": reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
                            "publish_url": reverse("admin:{}_{}_publish".format(*info), args=[obj.pk]),
                            "own": obj.last_edited_by_id == request.user.pk,
                        }
                        for obj in rows
                    ],
                }
            )
        context = page_context(
            self,
            request,
            "Review queue",
            revision_rows=revision_rows,
            draft_sections=sorted(draft_sections, key=lambda section: str(section["opts"].verbose_name_plural)),
            can_review=review.can_review(request.user),
        )
        return TemplateResponse(request, "admin/registry/revision/queue.html", context)


# ---------------------------------------------------------------------------
# Official registers (ESMA): data-quality flags, warning notices, match proposals, file upload
# ---------------------------------------------------------------------------


@admin.register(WarningNotice)
class WarningNoticeAdmin(CuratedAdmin):
    list_display = [
        "entity",
        "regulator",
        "jurisdiction",
        "decided_display",
        "esma_article_17_case",
        "publication_status",
    ]
    list_filter = ["publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["entity__name", "reason", "websites"]
    list_select_related = ["entity", "regulator", "jurisdiction"]
    autocomplete_fields = ["entity", "regulator", "jurisdiction", "source"]
    fieldsets = [
        (None, {"fields": ["entity", "regulator", "jurisdiction", "decided_on"]}),
        (
            "Decision",
            {"fields": ["esma_article_17_case", "reason", "websites", "notes", "source", "locator", "quality_flags"]},
        ),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]

    decided_display = partial_date_display("decided_on", "decided", "decided")


class EsmaUploadForm(forms.Form):
    file = forms.FileField(
        help_text="The CSV file exactly as downloaded from ESMA (CASP20260123.csv, NCASP20260129.csv): its register "
        "is recognised from its header, its name carries the snapshot date."
    )
    publish = forms.BooleanField(
        required=False,
        label="Publish directly",
        help_text="Reviewers only: skip the second reviewer for this file (recorded in the history).",
    )

    MAX_BYTES = 10 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 10 MB: it is not an ESMA register snapshot.")
        return upload


class MatchDecisionForm(forms.Form):
    """A reviewer's decision on a match: a note, and what to do with free text written from weaker sources."""

    note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required to reject: say why they are not the same, for the next curator.",
    )

    def __init__(self, *args, texts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.texts = list(texts)
        for text in self.texts:
            self.fields[f"{text.field}_action"] = forms.ChoiceField(
                label=f"The {text.label}, written from the {text.sources}",
                choices=[
                    ("keep", "Keep as is: flagged for a curator, and withheld from the public page until edited"),
                    ("revise", "Replace with the revised text below"),
                    ("clear", "Clear"),
                ],
                initial="keep",
                required=False,  # a rejection leaves the text alone
                widget=forms.RadioSelect,
            )
            self.fields[text.field] = forms.CharField(
                label=f"Revised {text.label}",
                required=False,
                initial=text.text,
                widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
            )

    def clean(self):
        cleaned = super().clean()
        for text in self.texts:
            if cleaned.get(f"{text.field}_action") == "revise" and not cleaned.get(text.field, "").strip():
                self.add_error(text.field, "Write the revised text, or choose Clear.")
        return cleaned

    def revised_texts(self) -> dict[str, str]:
        """{field: new text} for the texts the reviewer revised or cleared; kept ones are left out."""
        result = {}
        for text in self.texts:
            action = self.cleaned_data.get(f"{text.field}_action")
            if action == "revise":
                result[text.field] = self.cleaned_data[text.field].strip()
            elif action == "clear":
                result[text.field] = ""
        return result


@admin.register(MatchProposal)
class MatchProposalAdmin(DecisionAdmin):
    """Imported firms that may be records curators already have: a reviewer accepts or rejects each.

    Also home of the ESMA file upload (upload, preview the dry-run counts, confirm).
    """

    list_display = ["imported_entity", "existing_entity", "existing_license", "score", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["imported_entity", "existing_entity", "existing_license__holder"]
    search_fields = ["imported_entity__name", "existing_entity__name", "reason"]
    readonly_fields = [
        "imported_entity",
        "existing_entity",
        "imported_license",
        "existing_license",
        "score",
        "reason",
        "source",
        "author",
        "created_at",
        "status",
        "reviewer",
        "decided_at",
    ]
    fields = [*readonly_fields, "review_note"]
    actions = ["accept_selected", "reject_selected"]
    change_list_template = "admin/registry/matchproposal/change_list.html"

    def decision_view(self, request, proposal):
        """The proposal, what accepting it would change field by field, and Accept / Reject (four-eyes)."""
        url = reverse("admin:registry_matchproposal_change", args=[proposal.pk])
        plan = preview_match(proposal) if proposal.status == MatchStatus.PENDING else None
        form = MatchDecisionForm(request.POST or None, texts=plan.texts if plan else ())
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if request.POST.get("decision") == "accept":
                    accept_match(proposal, reviewer=request.user, note=note, texts=form.revised_texts())
                    self.message_user(request, "The match was accepted: the records are linked.", messages.SUCCESS)
                elif request.POST.get("decision") == "reject":
                    reject_match(proposal, reviewer=request.user, note=note)
                    self.message_user(
                        request, "The match was rejected; it will not be proposed again.", messages.SUCCESS
                    )
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"Nothing was changed: {review.message_of(exc)}", messages.ERROR)
            return HttpResponseRedirect(url)
        context = page_context(
            self,
            request,
            f"Match proposal: {proposal}",
            proposal=proposal,
            plan=plan,
            form=form,
            refusal=decision_refusal(proposal, request.user),
        )
        return TemplateResponse(request, "admin/registry/matchproposal/detail.html", context)

    def _decide(self, request, queryset, decide, done):
        count = 0
        for proposal in queryset:
            try:
                decide(proposal)
                count += 1
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{proposal}: nothing was changed: {review.message_of(exc)}", messages.ERROR)
        if count:
            text = ngettext("%(done)s %(count)d proposal.", "%(done)s %(count)d proposals.", count)
            self.message_user(request, text % {"done": done, "count": count}, messages.SUCCESS)

    @admin.action(description="Accept the selected matches (link the records)")
    def accept_selected(self, request, queryset):
        self._decide(
            request, queryset, lambda p: accept_match(p, reviewer=request.user, note=p.review_note), "Accepted"
        )

    @admin.action(description="Reject the selected matches (needs a review note on each)")
    def reject_selected(self, request, queryset):
        self._decide(
            request, queryset, lambda p: reject_match(p, reviewer=request.user, note=p.review_note), "Rejected"
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("import-esma/", view(self.upload_view), name="registry_esma_import"), *super().get_urls()]

    def upload_view(self, request):
        """Upload an ESMA file, see what a dry run would do, then confirm to import it.

        The file passes the checks of ``manage.py import_esma`` (``imports.esma.registers.prepare``) and, imported,
        becomes its register's last good file for ``sync_esma`` (``Prepared.run``), as when the command imports it.
        """
        if not request.user.has_perm("registry.add_license"):
            raise PermissionDenied
        context = page_context(self, request, "Import an ESMA register file")
        pending = request.session.get("esma_upload")
        if request.method == "POST" and request.POST.get("confirm") and pending:
            return self._confirm_upload(request, pending)
        form = EsmaUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            publish = form.cleaned_data["publish"]
            if publish and not review.can_review(request.user):
                form.add_error("publish", "Only a reviewer can publish an import directly.")
            else:
                data, name = form.cleaned_data["file"].read(), form.cleaned_data["file"].name
                try:
                    counts = prepare(data, name, publish=publish, dry_run=True).run()
                except (BadFile, NoImporter) as exc:
                    self.message_user(request, f"Nothing was imported: {exc}", messages.ERROR)
                else:
                    sha256 = hashlib.sha256(data).hexdigest()
                    request.session["esma_upload"] = {
                        "name": name,
                        "publish": publish,
                        "sha256": sha256,
                        "data": base64.b64encode(data).decode("ascii"),
                    }
                    shown = [row for row in counts.rows if row[1] != "unchanged" or row[3]]
                    context.update(counts=counts, preview_rows=shown, name=name, sha256=sha256, publish=publish)
        context["form"] = form
        return TemplateResponse(request, "admin/registry/matchproposal/esma_import.html", context)

    def _confirm_upload(self, request, pending):
        if request.POST.get("sha256") != pending["sha256"]:
            self.message_user(request, "The file to import changed: upload it again.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        del request.session["esma_upload"]
        name = pending["name"]
        try:
            prepared = prepare(base64.b64decode(pending["data"]), name, publish=pending["publish"])
            counts = prepared.run()
        except (BadFile, NoImporter) as exc:
            self.message_user(request, f"Nothing was imported: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        analyze_registry_tables()
        self.message_user(
            request,
            f"Imported {name} ({prepared.register.code}, snapshot {prepared.date.isoformat()}): {counts.summary()}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:registry_matchproposal_changelist"))


# ---------------------------------------------------------------------------
# Crypto-assets and their white papers (ESMA's MiCA register, Titles II to IV)
# ---------------------------------------------------------------------------


class WhitePaperCitationInline(RequiredCitationInline):
    model = WhitePaperCitation


@admin.register(WhitePaper)
class WhitePaperAdmin(CitedAdmin):
    inlines = [WhitePaperCitationInline]
    list_display = ["__str__", "kind", "regulator", "jurisdiction", "listed_display", "publication_status"]
    list_filter = ["kind", "publication_status", ("jurisdiction", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["offeror__name", "filed_by__name", "url", "url_as_published", "crypto_asset__ffg"]
    list_select_related = ["offeror", "filed_by", "crypto_asset", "regulator", "jurisdiction"]
    autocomplete_fields = ["crypto_asset", "offeror", "filed_by", "regulator", "jurisdiction"]
    filter_horizontal = ["host_states"]
    fieldsets = [
        (None, {"fields": ["kind", "crypto_asset", "offeror", "filed_by", "regulator", "jurisdiction", "host_states"]}),
        ("White paper", {"fields": ["url", "url_as_published", "notified_on", "listed_on", "comments"]}),
        (
            "Issuer (EMTs and ARTs)",
            {
                "fields": [
                    "issuer_authorisation",
                    "issuer_authorised_on",
                    "issuer_authorisation_ended_on",
                    "exemption_48_4",
                    "exemption_48_5",
                    "credit_institution",
                ]
            },
        ),
        ("Register", {"fields": ["official_register_key", "last_verified_on", "not_listed_since", "quality_flags"]}),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]

    listed_display = partial_date_display("listed_on", "entry updated", "listed")


@admin.register(CryptoAsset)
class CryptoAssetAdmin(CuratedAdmin):
    list_display = ["__str__", "kind", "ffg", "publication_status"]
    list_filter = ["kind", "publication_status"]
    search_fields = ["name", "ffg", "dtis", "slug"]
    fieldsets = [
        (None, {"fields": ["kind", "name", "ffg", "dtis"]}),
        ("Register", {"fields": ["official_register_key", "quality_flags"]}),
        ("Publication", {"fields": ["slug", "publication_status"]}),
        RECORD_FIELDSET,
    ]
