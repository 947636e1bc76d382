"""Bulk import of entities, licences and audits from CSV or XLSX (django-import-export).

Staff upload a file in the admin, see a preview (a dry run inside a transaction
that is always rolled back) and confirm. Columns hold natural keys and human
values: slugs, jurisdiction codes, "2025-03" for a date known to the month,
"yes"/"no", lists separated by ";".

One bad row rejects the whole file. Every bad cell becomes a ValidationError
that names the row, the column and the value ("row 3: holder 'okx-eu' does not
exist"), and :meth:`ReviewedResource.import_data` always rolls back when any
row is invalid, so nothing is written. Rows are numbered from 1, the first row
under the header, as in the admin's preview.

Imported rows go through four-eyes review exactly like a hand edit
(:mod:`curation.review`):

* a new record is saved as a draft, as the importing user's edit;
* a change to a draft is saved as that user's edit;
* a change to a published record is not written to it: it becomes a pending
  :class:`~registry.models.Revision` (the public keeps seeing the approved
  version until a reviewer approves the change);
* an unchanged row is skipped and writes nothing, and so is a change already
  waiting for review in an identical revision (re-importing a file is a no-op).

Every save carries the reason "Bulk import of <file> by <user>" into the history.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import ngettext
from import_export import widgets
from import_export.admin import ImportMixin
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.resources import ModelResource
from import_export.results import RowResult

from curation import review
from registry.dates import PartialDate, PartialDateDescriptor
from registry.models import (
    Activity,
    AliasKind,
    Audit,
    AuditCitation,
    AuditKind,
    Entity,
    EntityKind,
    Jurisdiction,
    License,
    LicenseCitation,
    LicenseStatus,
    LicenseType,
    Publication,
    Regime,
    Regulator,
    Revision,
    Source,
    Standard,
)
from registry.models.base import WORKFLOW_FIELDS

logger = logging.getLogger(__name__)

LIST_SEPARATOR = ";"
# The columns of each kind of file, in the order of its header (and of the template offered for download).
COLUMNS = {
    "entity": "slug,name,kind,parent,jurisdiction,lei,website,description,aliases".split(","),
    "license": (
        "slug,holder,regime,license_type,regulator,jurisdiction,status,granted,ended,activities,passported_to,"
        "serves_retail,serves_professional,serves_institutional,reference_number,conditions,source,quote,"
        "last_verified_on"
    ).split(","),
    "audit": (
        "slug,subject,kind,standard,auditor,scope,issued,period_start,period_end,valid_until,ongoing,reference,"
        "source,quote,last_verified_on"
    ).split(","),
}
# Reasons are shown in one line of the history list: shorten very long file names.
HISTORY_REASON_MAX_LENGTH = 100
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


class ImportRejected(Exception):
    """The file as a whole cannot be imported (unknown columns, no slug column, no permission)."""


def import_reason(file_name, user) -> str:
    """The history's reason for every save of one import, short enough for one line of the history list."""
    who = user.get_username()
    name = os.path.basename(str(file_name or "")) or "an uploaded file"
    reason = f"Bulk import of {name} by {who}"
    if len(reason) > HISTORY_REASON_MAX_LENGTH:
        room = max(HISTORY_REASON_MAX_LENGTH - len(f"Bulk import of … by {who}"), 1)
        reason = f"Bulk import of {name[:room]}… by {who}"
    return reason[:HISTORY_REASON_MAX_LENGTH]


def error_messages(result) -> list[str]:
    """Every reason a file was rejected, one line each ("row 3: holder 'okx-eu' does not exist")."""
    lines = [str(error.error) for error in result.base_errors]
    for row in result.invalid_rows:
        for messages_ in row.error_dict.values():
            lines.extend(str(message) for message in messages_)
    for row in result.error_rows:
        lines.extend(f"row {row.number}: {error.error}" for error in row.errors)
    return lines


def _text(value) -> str:
    """A cell as stripped text: XLSX gives None for an empty cell and numbers for numeric ones."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _as_json(changes):
    """Changes as they come back from a JSONField (dictionary keys become strings)."""
    return json.loads(json.dumps(changes))


def _messages_of(exc) -> list[str]:
    return [str(message) for message in getattr(exc, "messages", None) or [str(exc)]]


# ---------------------------------------------------------------------------
# Widgets: one cell to one Python value. A ValueError's text follows the column
# name in the row's message, so it starts with the value: "'2025-13' is not...".
# ---------------------------------------------------------------------------


class TextWidget(widgets.CharWidget):
    def __init__(self, upper=False):
        super().__init__(allow_blank=True)
        self.upper = upper

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        return text.upper() if self.upper else text


class UrlWidget(TextWidget):
    """Curators paste addresses without a scheme ("okx.com"): assume https, as the admin does."""

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs)
        if text and "://" not in text:
            text = f"https://{text}"
        return text


class ChoiceWidget(widgets.Widget):
    """A choice by its value or its label, in any case ("active" or "Active")."""

    def __init__(self, choices):
        super().__init__()
        self.choices = choices

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if not text:
            return ""
        for stored, label in self.choices.choices:
            if text.lower() in (str(stored).lower(), str(label).lower()):
                return stored
        raise ValueError(f"'{text}' is not one of: {', '.join(self.choices.values)}")


class YesNoWidget(widgets.Widget):
    """yes/no (also true/false, 1/0); an empty cell is "no": no source says so."""

    TRUE = {"yes", "y", "true", "1"}
    FALSE = {"no", "n", "false", "0", ""}

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        text = _text(value).lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(f"'{text}' is not yes or no")

    def render(self, value, obj=None, **kwargs):
        return "yes" if value else "no"


class LookupWidget(widgets.Widget):
    """A related record by its natural key (a slug, or a jurisdiction's code)."""

    def __init__(self, model, field="slug", upper=False):
        super().__init__()
        self.model = model
        self.field = field
        self.upper = upper

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if self.upper:
            text = text.upper()
        if not text:
            return None
        found = self.model._default_manager.filter(**{self.field: text}).first()
        if found is None:
            raise ValueError(f"'{text}' does not exist")
        return found

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(getattr(value, self.field))


class LicenseTypeWidget(LookupWidget):
    """A licence type by its slug within the regime named in the row's ``regime`` column."""

    def __init__(self):
        super().__init__(LicenseType)

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if not text:
            return None
        regime = _text((row or {}).get("regime"))
        if not regime:
            raise ValueError(f"'{text}' needs the regime column: licence types are named within a regime")
        found = LicenseType.objects.filter(regime__slug=regime, slug=text).first()
        if found is None:
            raise ValueError(f"'{text}' does not exist in regime '{regime}'")
        return found


class KeyListWidget(widgets.ManyToManyWidget):
    """Related records by natural key, separated by ";" ("custody; transfer")."""

    def __init__(self, model, field="slug", upper=False):
        super().__init__(model, separator=LIST_SEPARATOR, field=field)
        self.upper = upper

    def clean(self, value, row=None, **kwargs):
        keys = []
        for part in _text(value).split(LIST_SEPARATOR):
            key = part.strip().upper() if self.upper else part.strip()
            if key and key not in keys:
                keys.append(key)
        found = list(self.model._default_manager.filter(**{f"{self.field}__in": keys}))
        known = {getattr(item, self.field) for item in found}
        missing = [key for key in keys if key not in known]
        if missing:
            quoted = ", ".join(f"'{key}'" for key in missing)
            text = ngettext("%(keys)s does not exist", "%(keys)s do not exist", len(missing))
            raise ValueError(text % {"keys": quoted})
        return found

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        items = value.all() if hasattr(value, "all") else value
        return f"{LIST_SEPARATOR} ".join(sorted(str(getattr(item, self.field)) for item in items))


class NameListWidget(widgets.Widget):
    """Names separated by ";" (an entity's aliases)."""

    def clean(self, value, row=None, **kwargs):
        names = []
        for part in _text(value).split(LIST_SEPARATOR):
            if part.strip() and part.strip() not in names:
                names.append(part.strip())
        return names


class PartialDateWidget(widgets.Widget):
    """ "2025", "2025-03" or "2025-03-14" as a :class:`PartialDate`; a spreadsheet date is known to the day."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime.datetime):
            return PartialDate(value.date())
        if isinstance(value, datetime.date):
            return PartialDate(value)
        text = _text(value)
        if not text:
            return None
        try:
            return PartialDate.parse(text)
        except ValueError as exc:
            detail = "write YYYY, YYYY-MM or YYYY-MM-DD" if "YYYY" in str(exc) else str(exc)
            raise ValueError(f"'{text}' is not a valid date: {detail}") from exc

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


class DayWidget(widgets.Widget):
    """A full date, "2025-03-14" (or a spreadsheet date)."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        text = _text(value)
        if not text:
            return None
        try:
            if not _ISO_DAY.match(text):
                raise ValueError(text)
            return datetime.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"'{text}' is not a date written as YYYY-MM-DD") from exc

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


# ---------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------


class ColumnField(Field):
    """A column read from the row but not set on the record: a citation's source and quote, aliases, the regime.

    ``display(instance)`` gives the preview's value; import-export builds the
    preview from a copy taken before the row is applied and from the record
    after it, and ``_import_values`` (set when the row is applied) tells which.
    """

    def __init__(self, column_name, widget, display=None):
        super().__init__(attribute=None, column_name=column_name, widget=widget)
        self.display = display

    def get_value(self, instance):
        return self.display(instance) if self.display else None

    def export(self, instance, **kwargs):
        value = self.get_value(instance)
        return "" if value is None else str(value)


class RelatedListField(Field):
    """A many-to-many column; the preview shows the row's list (a published record's list changes only on review)."""

    def get_value(self, instance):
        values = instance.__dict__.get("_import_values") or {}
        if self.column_name in values:
            return values[self.column_name]
        if instance.pk is None:
            return []
        return super().get_value(instance)


def _after_import(instance) -> dict | None:
    """The row's cleaned values when ``instance`` is the record as imported, None for the copy from before."""
    return instance.__dict__.get("_import_values")


def _row_key(instance, column) -> str:
    return _text((instance.__dict__.get("_import_row") or {}).get(column))


def _citation_display(what):
    """The preview's ``source`` (the slugs cited) or ``quote`` column of a record that cites sources."""

    def display(instance):
        citation_model = type(instance)._meta.get_field("citations").related_model
        cited = {}
        if instance.pk is not None:
            rows = citation_model._base_manager.filter(**{citation_model.TARGET_FIELD: instance.pk})
            for citation in rows.select_related("source").order_by("supports"):
                cited.setdefault(citation.source.slug, citation.quote)
        values = _after_import(instance)
        if what == "source":
            slugs = set(cited)
            if values and values.get("source") is not None:
                slugs.add(values["source"].slug)
            return f"{LIST_SEPARATOR} ".join(sorted(slugs))
        before = cited.get(_row_key(instance, "source"), "")
        return (values.get("quote") or before) if values else before

    return display


def _alias_display(instance):
    values = _after_import(instance)
    if values and "aliases" in values:
        names = values["aliases"]
    elif instance.pk is not None:
        names = instance.aliases.values_list("name", flat=True)
    else:
        names = []
    return f"{LIST_SEPARATOR} ".join(sorted(names))


def _regime_display(instance):
    return instance.license_type.regime.slug if instance.license_type_id else ""


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------


def normalise_headers(dataset, columns: list[str], plural) -> None:
    """Lower-case, trimmed headers (a UTF-8 BOM dropped) and no trailing empty rows; a file with unknown or
    repeated ``columns`` (those of the model named ``plural``), or without a slug column, is rejected."""
    headers = [_text(header).lstrip("\ufeff").strip().lower() for header in dataset.headers or []]
    if not any(headers):
        raise ImportRejected("The file has no header row.")
    dataset.headers = headers
    # Spreadsheets often end in formatted but empty rows.
    while len(dataset) and all(_text(value) == "" for value in dataset[-1]):
        del dataset[-1]
    unknown = [header for header in headers if header and header not in columns]
    repeated = sorted({header for header in headers if header and headers.count(header) > 1})
    if unknown:
        text = ngettext(
            "Unknown column: %(unknown)s. The columns for %(plural)s are: %(columns)s.",
            "Unknown columns: %(unknown)s. The columns for %(plural)s are: %(columns)s.",
            len(unknown),
        )
        raise ImportRejected(text % {"unknown": ", ".join(unknown), "plural": plural, "columns": ", ".join(columns)})
    if repeated:
        text = ngettext(
            "Column given more than once: %(columns)s.", "Columns given more than once: %(columns)s.", len(repeated)
        )
        raise ImportRejected(text % {"columns": ", ".join(repeated)})
    if "slug" not in headers:
        raise ImportRejected("The file has no slug column: every row is matched on its slug.")


class RowChanges:
    """What a row changes in its stored record, in :func:`curation.review.propose`'s terms, for
    :class:`ReviewedResource`: a row that changes nothing, or whose change already waits for review, is skipped.
    """

    #: The citation model the ``source`` and ``quote`` columns fill; None when the model takes no citation.
    citation_model = None

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """Skip a row that changes nothing, or whose change already waits for review in an identical revision."""
        if import_validation_errors or instance.pk is None:
            return False
        changes = self.changes_for(instance)
        if not any(changes.values()):
            return True
        if instance.publication_status != Publication.PUBLISHED:
            return False
        wanted = _as_json(changes)
        pending = Revision.objects.pending().for_object(instance)
        return any(revision.changes == wanted for revision in pending)

    def changes_for(self, instance) -> dict:
        """What the row changes in the stored record, in :func:`curation.review.propose`'s terms.

        ``fields``: attname → JSON value; ``m2m``: name → primary keys;
        ``inlines``: citation or alias rows to create, update or delete.
        """
        model = type(instance)
        stored = model._base_manager.get(pk=instance.pk)
        fields = {}
        for field in model._meta.concrete_fields:
            if field.primary_key or field.name in WORKFLOW_FIELDS:
                continue
            value = getattr(instance, field.attname)
            if value != getattr(stored, field.attname):
                fields[field.attname] = review.to_json(value)
        values = instance.__dict__.get("_import_values") or {}
        m2m = {}
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget) and field.column_name in values:
                wanted = sorted(item.pk for item in values[field.column_name])
                current = sorted(getattr(stored, field.attribute).values_list("pk", flat=True))
                if wanted != current:
                    m2m[field.attribute] = wanted
        return {"fields": fields, "m2m": m2m, "inlines": self.inline_changes(stored, values)}

    def inline_changes(self, stored, values) -> dict:
        """The row's citation: created when its source is not cited yet, its quote updated when it differs."""
        source = values.get("source")
        if self.citation_model is None or source is None:
            return {}
        model = self.citation_model
        quote = values.get("quote") or ""
        existing = list(model._base_manager.filter(**{model.TARGET_FIELD: stored, "source": source}))
        if not existing:
            return {model._meta.label: {"create": [{"source_id": source.pk, "quote": quote}]}}
        general = next((citation for citation in existing if citation.supports == ""), None)
        if general is not None and quote and general.quote != quote:
            return {model._meta.label: {"update": {str(general.pk): {"quote": quote}}}}
        return {}


class ReviewedResource(RowChanges, ModelResource):
    """A resource whose rows are saved through :mod:`curation.review` (see the module's docstring).

    ``import_data`` needs ``user`` (the importing account) and takes
    ``file_name`` for the history's reason; the admin passes both.
    """

    #: How a row's record is named in messages ("every licence cites a source").
    noun = "record"

    class Meta:
        import_id_fields = ["slug"]
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._user = None
        self._reason = ""
        self._row_number = None
        self._proposed_rows = set()
        self._rows_by_slug = {}
        self._columns = {}
        self._model_fields = {}
        for field in self.fields.values():
            if isinstance(field, ColumnField) or not field.attribute:
                continue
            descriptor = getattr(self._meta.model, field.attribute, None)
            if isinstance(descriptor, PartialDateDescriptor):
                names = [descriptor.date_attname, descriptor.precision_attname]
            else:
                names = [field.attribute]
            for name in names:
                self._columns[name] = field.column_name
            self._model_fields[field.column_name] = names

    # -- the whole file ------------------------------------------------------

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        rollback_on_validation_errors=False,
        **kwargs,
    ):
        """Import in one transaction that any invalid row rolls back: a file is imported whole or not at all.

        The caller's ``use_transactions`` and ``rollback_on_validation_errors``
        are overridden: without them a bad row would be reported and the good
        ones written (the admin's confirm step asks for exactly that).
        """
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=True,
            collect_failed_rows=collect_failed_rows,
            rollback_on_validation_errors=True,
            **kwargs,
        )

    def before_import(self, dataset, **kwargs):
        self._proposed_rows = set()
        self._rows_by_slug = {}
        try:
            user = kwargs.get("user")
            if user is None or not user.is_authenticated:
                raise ImportRejected("A bulk import needs the account of the person importing.")
            opts = self._meta.model._meta
            needed = [f"{opts.app_label}.add_{opts.model_name}", f"{opts.app_label}.change_{opts.model_name}"]
            if not user.has_perms(needed):
                raise ImportRejected(f"{user.get_username()} may not add or change {opts.verbose_name_plural}.")
            self._user = user
            self._reason = import_reason(kwargs.get("file_name"), user)
            columns = [field.column_name for field in self.get_import_fields()]
            normalise_headers(dataset, columns, self._meta.model._meta.verbose_name_plural)
        except Exception:
            # import-export goes on to the rows after a failed before_import; give it none.
            del dataset[0 : len(dataset)]
            raise

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        result.proposed = len(self._proposed_rows)

    # -- one row -------------------------------------------------------------

    def _message(self, column, text):
        return f"row {self._row_number}: {column} {text}"

    def before_import_row(self, row, **kwargs):
        self._row_number = kwargs.get("row_number")

    def after_init_instance(self, instance, new, row, **kwargs):
        # Kept on the instance before import-export copies it for the preview's "before" side.
        instance._import_row = row

    def import_row(self, row, instance_loader, **kwargs):
        """Report an unexpected failure (a database error) as the row's validation error: it still rejects the file."""
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.import_type == RowResult.IMPORT_TYPE_ERROR:
            number = kwargs.get("row_number")
            lines = [f"row {number}: could not be saved: {error.error}" for error in row_result.errors]
            logger.warning("Bulk import row %s failed: %s", number, "; ".join(lines))
            row_result.errors = []
            row_result.import_type = RowResult.IMPORT_TYPE_INVALID
            row_result.validation_error = ValidationError(lines)
        return row_result

    def import_instance(self, instance, row, **kwargs):
        """Set the row's values on the record; each bad cell becomes a message naming the row, column and value.

        Many-to-many lists and the columns in :class:`ColumnField` are only
        checked here and kept in ``instance._import_values``: they are saved
        through the review workflow with the record.
        """
        errors = {}
        values = {}
        for field in self.get_import_fields():
            column = field.column_name
            if column not in row:
                continue
            try:
                if isinstance(field, ColumnField) or isinstance(field.widget, widgets.ManyToManyWidget):
                    values[column] = field.clean(row)
                else:
                    self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                errors[column] = [self._message(column, str(exc))]
        instance._import_values = values
        if not instance.slug and "slug" not in errors:
            errors["slug"] = [self._message("slug", "is required: every row is matched on its slug")]
        elif instance.slug in self._rows_by_slug:
            # A second row for the same record would silently overwrite the first.
            first = self._rows_by_slug[instance.slug]
            errors["slug"] = [self._message("slug", f"'{instance.slug}' is already in row {first}")]
        else:
            self._rows_by_slug[instance.slug] = self._row_number
        if self.citation_model is not None and values.get("source") is None and "source" not in errors:
            errors["source"] = [
                self._message("source", f"is empty: every {self.noun} cites a source (give its slug and the quote)")
            ]
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The row's own errors, then the model's (``full_clean``), each named by column and row."""
        errors = {}
        for column, items in (import_validation_errors or {}).items():
            for item in items:
                errors.setdefault(column, []).extend(_messages_of(item))
        exclude = {name for column in errors for name in self._model_fields.get(column, [])}
        try:
            instance.full_clean(exclude=exclude, validate_unique=validate_unique)
        except ValidationError as exc:
            for name, items in exc.error_dict.items():
                if name == NON_FIELD_ERRORS:
                    texts = [f"row {self._row_number}: {t}" for item in items for t in item.messages]
                    errors.setdefault(NON_FIELD_ERRORS, []).extend(texts)
                    continue
                column = self._columns.get(name, name)
                for item in items:
                    if item.code in ("null", "blank", "required"):
                        texts = [self._message(column, "is required")]
                    else:
                        texts = [f"row {self._row_number}: {column}: {t}" for t in item.messages]
                    errors.setdefault(column, []).extend(texts)
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Save through the review workflow: a draft as the user's edit, a published record's change as a revision."""
        self.before_save_instance(instance, row, **kwargs)
        user, reason = self._user, self._reason
        instance._history_user = user
        try:
            with transaction.atomic():
                if is_create:
                    review.save_edit(instance, user=user, reason=reason, is_new=True)
                    changes = self.changes_for(instance)
                    review.apply_related_changes(instance, changes, reason=reason, user=user)
                elif instance.publication_status == Publication.PUBLISHED:
                    changes = self.changes_for(instance)
                    stored = type(instance)._base_manager.get(pk=instance.pk)
                    summary = "; ".join(
                        f"{label}: {old or '—'} → {new or '—'}" for label, old, new in review.describe(stored, changes)
                    )
                    review.propose(
                        instance,
                        author=user,
                        reason=reason,
                        base_version=instance.version,
                        summary=f"Row {self._row_number} of the import. {summary}".strip(),
                        **changes,
                    )
                    instance._import_proposed = True
                    self._proposed_rows.add(self._row_number)
                else:
                    changes = self.changes_for(instance)
                    review.save_edit(instance, user=user, reason=reason, base_version=instance.version)
                    review.apply_related_changes(instance, changes, reason=reason, user=user)
        except (ValidationError, PermissionDenied) as exc:
            raise ValidationError([f"row {self._row_number}: {text}" for text in _messages_of(exc)]) from exc
        self.after_save_instance(instance, row, **kwargs)

    def save_m2m(self, instance, row, **kwargs):
        """Done in :meth:`save_instance`: a published record's lists change only when its revision is approved."""

    def after_import_row(self, row, row_result, **kwargs):
        row_result.proposed = kwargs.get("row_number") in self._proposed_rows


def _partial_date(attribute, column):
    return Field(attribute=attribute, column_name=column, widget=PartialDateWidget())


def _text_field(name, **kwargs):
    return Field(attribute=name, column_name=name, widget=TextWidget(**kwargs))


class EntityResource(ReviewedResource):
    """Entities: groups, affiliates, companies and audit firms. Aliases are trading names, separated by ";"."""

    noun = "entity"

    slug = _text_field("slug")
    name = _text_field("name")
    kind = Field(attribute="kind", column_name="kind", widget=ChoiceWidget(EntityKind))
    parent = Field(attribute="parent", column_name="parent", widget=LookupWidget(Entity))
    jurisdiction = Field(
        attribute="jurisdiction", column_name="jurisdiction", widget=LookupWidget(Jurisdiction, "code", upper=True)
    )
    lei = _text_field("lei", upper=True)
    website = Field(attribute="website", column_name="website", widget=UrlWidget())
    description = _text_field("description")
    aliases = ColumnField("aliases", NameListWidget(), display=_alias_display)

    class Meta(ReviewedResource.Meta):
        model, name = Entity, "Entities (CSV or XLSX)"
        fields = import_order = COLUMNS["entity"]

    def inline_changes(self, stored, values):
        """The aliases column lists every trading name: missing ones are added, unlisted ones removed."""
        inlines = super().inline_changes(stored, values)
        if "aliases" in values:
            wanted = values["aliases"]
            current = dict(stored.aliases.values_list("name", "pk"))
            create = [{"name": name, "kind": AliasKind.TRADING.value} for name in wanted if name not in current]
            delete = [pk for name, pk in current.items() if name not in wanted]
            if create or delete:
                inlines["registry.EntityAlias"] = {"create": create, "delete": delete}
        return inlines


class CitedResource(ReviewedResource):
    """A record that cites sources (licences, audits): each row names one by its slug, with the quote (a row of
    ``citation_model``), and may give the day the record was last verified against its sources."""

    source = ColumnField("source", LookupWidget(Source), display=_citation_display("source"))
    quote = ColumnField("quote", TextWidget(), display=_citation_display("quote"))
    last_verified_on = Field(attribute="last_verified_on", column_name="last_verified_on", widget=DayWidget())


class LicenseResource(CitedResource):
    """Licences. ``license_type`` is a slug within the ``regime`` column's regime; every row cites a source."""

    noun = "licence"
    citation_model = LicenseCitation

    slug = _text_field("slug")
    holder = Field(attribute="holder", column_name="holder", widget=LookupWidget(Entity))
    regime = ColumnField("regime", LookupWidget(Regime), display=_regime_display)
    license_type = Field(attribute="license_type", column_name="license_type", widget=LicenseTypeWidget())
    regulator = Field(attribute="regulator", column_name="regulator", widget=LookupWidget(Regulator))
    jurisdiction = Field(
        attribute="jurisdiction", column_name="jurisdiction", widget=LookupWidget(Jurisdiction, "code", upper=True)
    )
    status = Field(attribute="status", column_name="status", widget=ChoiceWidget(LicenseStatus))
    granted = _partial_date("granted", "granted")
    ended = _partial_date("ended", "ended")
    activities = RelatedListField(attribute="activities", column_name="activities", widget=KeyListWidget(Activity))
    passported_to = RelatedListField(
        attribute="passported_to",
        column_name="passported_to",
        widget=KeyListWidget(Jurisdiction, "code", upper=True),
    )
    serves_retail = Field(attribute="serves_retail", column_name="serves_retail", widget=YesNoWidget())
    serves_professional = Field(
        attribute="serves_professional", column_name="serves_professional", widget=YesNoWidget()
    )
    serves_institutional = Field(
        attribute="serves_institutional", column_name="serves_institutional", widget=YesNoWidget()
    )
    reference_number = _text_field("reference_number")
    conditions = _text_field("conditions")

    class Meta(CitedResource.Meta):
        model, name = License, "Licences (CSV or XLSX)"
        fields = import_order = COLUMNS["license"]


class AuditResource(CitedResource):
    """Audits and certifications; every row cites a source."""

    noun = "audit"
    citation_model = AuditCitation

    slug = _text_field("slug")
    subject = Field(attribute="subject", column_name="subject", widget=LookupWidget(Entity))
    kind = Field(attribute="kind", column_name="kind", widget=ChoiceWidget(AuditKind))
    standard = Field(attribute="standard", column_name="standard", widget=LookupWidget(Standard))
    auditor = Field(attribute="auditor", column_name="auditor", widget=LookupWidget(Entity))
    scope = _text_field("scope")
    issued = _partial_date("issued", "issued")
    period_start = _partial_date("period_started", "period_start")
    period_end = _partial_date("period_ended", "period_end")
    valid_until = _partial_date("valid_until_date", "valid_until")
    ongoing = Field(attribute="ongoing", column_name="ongoing", widget=YesNoWidget())
    reference = _text_field("reference")

    class Meta(CitedResource.Meta):
        model, name = Audit, "Audits (CSV or XLSX)"
        fields = import_order = COLUMNS["audit"]


# ---------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------


class ReviewedImportMixin(ImportMixin):
    """django-import-export's admin import (upload → preview → confirm), held to the register's rules.

    Only staff who may add and change the model may import; only CSV and
    XLSX are offered; a file that fails at the confirm step (the data changed
    since the preview) is reported, never half-imported; the success message
    and the admin log tell changes sent for review apart from saved drafts.
    """

    import_formats = [base_formats.CSV, base_formats.XLSX]
    import_template_name = "admin/import_export/registry_import.html"

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _import_url(self):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import", current_app=self.admin_site.name)

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        except (OSError, LookupError, ValueError, UnicodeError):
            # A stale or tampered confirmation (the temporary copy is gone, an unknown format).
            logger.warning("Bulk import confirmation could not be processed", exc_info=True)
            messages.error(request, "The uploaded file could not be read again. Nothing was imported: upload it again.")
            return HttpResponseRedirect(self._import_url())

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            lines = error_messages(result)
            messages.error(request, "Nothing was imported: one bad row rejects the whole file.")
            for line in lines[:20]:
                messages.error(request, line)
            return HttpResponseRedirect(self._import_url())
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        totals = result.totals
        proposed = getattr(result, "proposed", 0)
        new, skipped = totals[RowResult.IMPORT_TYPE_NEW], totals[RowResult.IMPORT_TYPE_SKIP]
        changed = totals[RowResult.IMPORT_TYPE_UPDATE] - proposed
        sent = ngettext(
            "%(n)d change to published %(plural)s sent for review",
            "%(n)d changes to published %(plural)s sent for review",
            proposed,
        )
        parts = [
            ngettext("%(n)d new draft", "%(n)d new drafts", new) % {"n": new},
            ngettext("%(n)d draft changed", "%(n)d drafts changed", changed) % {"n": changed},
            sent % {"n": proposed, "plural": self.opts.verbose_name_plural},
            ngettext("%(n)d unchanged row skipped", "%(n)d unchanged rows skipped", skipped) % {"n": skipped},
        ]
        messages.success(request, f"Import finished: {', '.join(parts)}.")

    def _log_actions(self, result, request):
        # A change sent for review did not change the record: the Revision is its log.
        rows = {}
        for row in result:
            if not getattr(row, "proposed", False):
                rows.setdefault(row.import_type, []).append(row.instance)
        self._create_log_entries(request.user.pk, rows)
