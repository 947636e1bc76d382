"""Curators' forms: one input for each partial date, and slugs built for them.

Sources give dates as "March 2025", "since 2023" or "16 January 2024". A
curator types the year, picks the month if the source gives one and types the
day only when it is given; the precision follows from what was filled in, so
it is never a separate choice that could disagree with the date.
"""

from __future__ import annotations

import calendar
import datetime

from django import forms
from django.db import models, transaction
from django.forms.models import ModelFormMetaclass
from django.utils.html import format_html
from django.utils.text import capfirst, slugify

from curation import review
from registry.dates import DatePrecision, PartialDate
from registry.models import Audit, License

MIN_YEAR = 1900
MAX_YEAR = 2100
MONTH_CHOICES = [("", "—"), *((number, calendar.month_name[number]) for number in range(1, 13))]


class PartialDateWidget(forms.MultiWidget):
    """Year (number), month (select, "—" for none) and day (number), each with an accessible name.

    The admin's ``<label>`` cannot point at three inputs, so the group and each
    input carry an ``aria-label`` that includes the field's label. No inline
    script or style: the layout comes from ``registry/admin/partial_date.css``.
    """

    class Media:
        css = {"all": ["registry/admin/partial_date.css"]}

    def __init__(self, label: str = "", attrs=None):
        self.label = str(label)
        prefix = f"{self.label}: " if self.label else ""
        widgets = (
            forms.NumberInput(
                attrs={
                    "class": "partial-date-year",
                    "min": MIN_YEAR,
                    "max": MAX_YEAR,
                    "step": 1,
                    "placeholder": "Year",
                    "aria-label": f"{prefix}year",
                }
            ),
            forms.Select(
                choices=MONTH_CHOICES,
                attrs={"class": "partial-date-month", "aria-label": f"{prefix}month"},
            ),
            forms.NumberInput(
                attrs={
                    "class": "partial-date-day",
                    "min": 1,
                    "max": 31,
                    "step": 1,
                    "placeholder": "Day",
                    "aria-label": f"{prefix}day",
                }
            ),
        )
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if isinstance(value, str):
            try:
                value = PartialDate.parse(value) if value else None
            except ValueError:
                return [None, None, None]
        if isinstance(value, datetime.date):
            value = PartialDate(value, DatePrecision.DAY)
        if not isinstance(value, PartialDate):
            return [None, None, None]
        day = value.date
        if value.precision == DatePrecision.YEAR:
            return [day.year, None, None]
        if value.precision == DatePrecision.MONTH:
            return [day.year, day.month, None]
        return [day.year, day.month, day.day]

    def render(self, name, value, attrs=None, renderer=None):
        inner = super().render(name, value, attrs, renderer)
        return format_html('<span class="partial-date" role="group" aria-label="{}">{}</span>', self.label, inner)


class PartialDateField(forms.MultiValueField):
    """A date known to the day, the month or the year; cleans to :class:`PartialDate` or None."""

    widget = PartialDateWidget
    default_error_messages = {
        "invalid_year": "Write the year as a number, such as 2025.",
        "invalid_day": "Write the day as a number from 1 to 31.",
        "year_missing": "Give a year: a month or day alone is not a date.",
        "year_range": f"Give a year between {MIN_YEAR} and {MAX_YEAR}.",
        "day_without_month": "Give a month for the day, or leave the day empty.",
        "not_a_date": "%(day)s %(month)s %(year)s is not a date.",
    }

    def __init__(self, *, label=None, widget=None, **kwargs):
        error_messages = {**self.default_error_messages, **kwargs.pop("error_messages", {})}
        fields = (
            forms.IntegerField(required=False, error_messages={"invalid": error_messages["invalid_year"]}),
            forms.TypedChoiceField(required=False, choices=MONTH_CHOICES, coerce=int, empty_value=None),
            forms.IntegerField(required=False, error_messages={"invalid": error_messages["invalid_day"]}),
        )
        super().__init__(
            fields,
            label=label,
            widget=widget or PartialDateWidget(label=label or ""),
            require_all_fields=False,
            error_messages=error_messages,
            **kwargs,
        )

    def compress(self, data_list):
        if not data_list:
            return None
        year, month, day = (list(data_list) + [None, None, None])[:3]
        if year is None and month is None and day is None:
            return None
        if year is None:
            raise forms.ValidationError(self.error_messages["year_missing"], code="year_missing")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise forms.ValidationError(self.error_messages["year_range"], code="year_range")
        if day is not None and month is None:
            raise forms.ValidationError(self.error_messages["day_without_month"], code="day_without_month")
        try:
            return PartialDate.from_parts(year, month, day)
        except ValueError:
            raise forms.ValidationError(
                self.error_messages["not_a_date"],
                code="not_a_date",
                params={"day": day, "month": calendar.month_name[month], "year": year},
            ) from None


def partial_date_names(model) -> list[str]:
    """Names of the model's partial dates: each DateField ``x`` that has a sibling field ``x_precision``."""
    names = {field.name for field in model._meta.get_fields()}
    return [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, models.DateField)
        and not isinstance(field, models.DateTimeField)
        and f"{field.name}_precision" in names
    ]


class HttpsUrlsMixin:
    """For a ModelAdmin or an inline: curators paste addresses without a scheme ("okx.com"), so every URL field
    assumes https, as Django 6 will (Django 5 assumes http, and warns, unless told)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


HOW_TO_FILL = "Year, then the month and day only if the source gives them (March 2025: 2025, March, no day)."


def partial_date_help(model_help: str) -> str:
    # The model's default help text speaks of storage ("the first day of it"),
    # which means nothing to someone typing "March 2025".
    if not model_help or model_help.endswith("the first day of it."):
        return HOW_TO_FILL
    return f"{model_help} {HOW_TO_FILL}"


class PartialDateModelFormMetaclass(ModelFormMetaclass):
    """Swap each (``x``, ``x_precision``) model-field pair for one :class:`PartialDateField` named ``x``.

    Done on the class, not in ``__init__``, so that the admin (which builds its
    field list from ``base_fields``) never offers the precision as an input.
    """

    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        model = getattr(new_class._meta, "model", None)
        new_class._partial_dates = partial_date_names(model) if model else []
        if not new_class._partial_dates:
            return new_class
        precisions = {f"{date_name}_precision" for date_name in new_class._partial_dates}
        fields = {}
        for field_name, form_field in new_class.base_fields.items():
            if field_name in new_class.declared_fields:
                fields[field_name] = form_field
            elif field_name in precisions:
                continue
            elif field_name in new_class._partial_dates:
                model_field = model._meta.get_field(field_name)
                fields[field_name] = PartialDateField(
                    label=form_field.label or capfirst(model_field.verbose_name),
                    required=form_field.required,
                    help_text=partial_date_help(model_field.help_text),
                )
            else:
                fields[field_name] = form_field
        new_class.base_fields = fields
        return new_class


class PartialDateModelForm(forms.ModelForm, metaclass=PartialDateModelFormMetaclass):
    """A ModelForm that edits each partial date as one field and writes both of its columns."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        given = kwargs.get("initial") or {}
        for name in self._partial_dates:
            if name not in self.fields:
                continue
            if name in given:
                # The admin passes ?granted_on=2025-03 through as text; the widget parses it.
                self.initial[name] = given[name]
                continue
            value = getattr(self.instance, name)
            precision = getattr(self.instance, f"{name}_precision") or DatePrecision.DAY
            self.initial[name] = PartialDate(value, precision) if value else None

    def _post_clean(self):
        # The model field holds a date, so hand construct_instance() the first day
        # of the period and set the precision column ourselves (before the model's
        # clean() and constraints run, which read both).
        cleaned = {}
        for name in self._partial_dates:
            if name in self.fields and name in self.cleaned_data:
                value = self.cleaned_data[name]
                cleaned[name] = value
                setattr(self.instance, f"{name}_precision", value.precision if value else "")
                self.cleaned_data[name] = value.date if value else None
        super()._post_clean()
        for name, value in cleaned.items():
            if name in self.cleaned_data:
                self.cleaned_data[name] = value


REVIEW_FIELDS = ["change_reason", "base_version"]


class CuratedModelForm(PartialDateModelForm):
    """A curated record's admin form: asks why, and remembers which version it was opened at.

    ``change_reason`` is not a model field: it becomes the history entry's
    reason (and a pending revision's). ``base_version`` is the record's version
    when the page was loaded; a save made from an older version is refused with
    what changed in between, never applied over someone else's edit.
    """

    change_reason = forms.CharField(
        label="Reason for this change",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why you make this change and what you checked: kept in the record's history and shown to "
        "the reviewer.",
    )
    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["base_version"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        if self.instance.pk is None or "base_version" in self.errors:
            return data
        base_version = data.get("base_version")
        if base_version is None:
            raise forms.ValidationError(
                "This form does not say which version of the record it was opened at: reload the page and make "
                "your edit again.",
                code="no_version",
            )
        # Inside the admin's transaction this also locks the row until the save is done.
        with transaction.atomic():
            review.check_version(self.instance, base_version)
        return data


class AutoSlugModelForm(CuratedModelForm):
    """Builds the slug from the record's own facts when the curator leaves it empty.

    Subclasses say which parts in :meth:`slug_parts`; a number is appended
    when the slug is taken, because a slug is never reused.
    """

    slug_help = "Leave empty to build it from the record."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "slug" in self.fields:
            self.fields["slug"].required = False
            self.fields["slug"].help_text = f"{self.fields['slug'].help_text} {self.slug_help}".strip()

    def slug_parts(self, data) -> list[str]:
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if "slug" in self.fields and not data.get("slug") and "slug" not in self.errors:
            parts = [str(part) for part in self.slug_parts(data) if part]
            if parts:
                max_length = self._meta.model._meta.get_field("slug").max_length
                base = slugify("-".join(parts))[: max_length - 4].strip("-")
                others = self._meta.model._default_manager.exclude(pk=self.instance.pk)
                slug, number = base, 2
                while others.filter(slug=slug).exists():
                    slug, number = f"{base}-{number}", number + 1
                data["slug"] = slug
            elif not self.errors:
                # When a field the slug is built from is wrong, that error is the one to fix.
                self.add_error("slug", "Give a slug, or fill in the fields it is built from.")
        return data


class LicenseAdminForm(AutoSlugModelForm):
    slug_help = "Leave empty to build it from the holder and licence type."

    class Meta:
        model = License
        fields = [
            "holder",
            "license_type",
            "regulator",
            "jurisdiction",
            "status",
            "reference_number",
            "granted_on",
            "ended_on",
            "activities",
            "serves_retail",
            "serves_professional",
            "serves_institutional",
            "passported_to",
            "conditions",
            "last_verified_on",
            "slug",
            "publication_status",
        ]

    def slug_parts(self, data):
        holder, license_type = data.get("holder"), data.get("license_type")
        if not holder or not license_type:
            return []
        return [holder.slug, license_type.regime.slug, license_type.slug]


class AuditAdminForm(AutoSlugModelForm):
    slug_help = "Leave empty to build it from the subject, the standard (or auditor and kind) and the date."

    class Meta:
        model = Audit
        fields = [
            "subject",
            "kind",
            "standard",
            "auditor",
            "scope",
            "reference",
            "issued_on",
            "period_start",
            "period_end",
            "ongoing",
            "valid_until",
            "last_verified_on",
            "slug",
            "publication_status",
        ]

    def slug_parts(self, data):
        # As the seed names them: okx-soc-2-type-ii-2023-09, okx-slowmist-security-audit.
        subject = data.get("subject")
        if not subject:
            return []
        if data.get("standard"):
            what = [data["standard"].slug]
        else:
            what = [data["auditor"].slug if data.get("auditor") else None, (data.get("kind") or "").replace("_", "-")]
        when = data.get("issued_on") or data.get("period_start")
        return [subject.slug, *what, when.isoformat() if when else None]
