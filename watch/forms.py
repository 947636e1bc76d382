"""The public "subscribe by email" form: an address and one thing to watch."""

from __future__ import annotations

import re

from django import forms

from registry.models import Entity, Jurisdiction
from watch.events import RECORD_TYPES

WHAT_CHOICES = (
    ("entity", "An entity and its affiliates"),
    ("jurisdiction", "A jurisdiction"),
    ("record_type", "A whole record type"),
)


class CodeChoiceField(forms.ModelChoiceField):
    """A jurisdiction by its code; a value no code can be (PostgreSQL refuses NUL bytes) is simply not a choice."""

    def to_python(self, value):
        if isinstance(value, str) and not CODE.fullmatch(value):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


CODE = re.compile(r"[A-Za-z0-9-]{0,10}")
SLUG = re.compile(r"[-a-z0-9_]{1,120}")


class SubscribeForm(forms.Form):
    email = forms.EmailField(label="Your email address", max_length=254)
    what = forms.ChoiceField(label="What to watch", choices=WHAT_CHOICES, widget=forms.RadioSelect, initial="entity")
    entity = forms.CharField(
        label="Entity",
        required=False,
        max_length=300,
        help_text="Its name, or the last part of its address on this site (use “Watch this” on its page).",
    )
    jurisdiction = CodeChoiceField(
        label="Jurisdiction",
        required=False,
        queryset=Jurisdiction.objects.exclude(kind="subdivision").order_by("name"),
        to_field_name="code",
        empty_label="Choose a jurisdiction",
    )
    record_type = forms.ChoiceField(
        label="Record type", required=False, choices=[("", "Choose a record type"), *RECORD_TYPES.items()]
    )

    def clean(self):
        data = super().clean()
        what = data.get("what")
        if what == "entity":
            data["target"] = self._entity(data.get("entity", "").strip())
        elif what == "jurisdiction":
            if not data.get("jurisdiction"):
                self.add_error("jurisdiction", "Choose the jurisdiction to watch.")
            else:
                data["target"] = ("jurisdiction", data["jurisdiction"].code)
        elif what == "record_type":
            if not data.get("record_type"):
                self.add_error("record_type", "Choose the record type to watch.")
            else:
                data["target"] = ("record_type", data["record_type"])
        return data

    def _entity(self, text):
        if not text:
            self.add_error("entity", "Name the entity to watch.")
            return None
        published = Entity.objects.published()
        by_slug = published.filter(slug=text.lower()).first() if SLUG.fullmatch(text.lower()) else None
        found = by_slug or list(published.filter(name__iexact=text)[:2])
        if isinstance(found, list):
            if len(found) != 1:
                self.add_error(
                    "entity",
                    "No published entity has this name."
                    if not found
                    else "Several entities have this name: use “Watch this” on the page of the one you mean.",
                )
                return None
            found = found[0]
        self.entity_record = found
        return ("entity", found.slug)


def describe(target) -> str:
    """What a target (``("entity", slug)``…) names, in words; "" when it names nothing published."""
    what, value = target
    if what == "entity":
        entity = Entity.objects.published().filter(slug=value).first()
        return f"{entity.name} and its affiliates" if entity else ""
    if what == "jurisdiction":
        jurisdiction = Jurisdiction.objects.filter(code=value).first()
        return str(jurisdiction) if jurisdiction else ""
    if what == "record_type":
        return RECORD_TYPES.get(value, "")
    return ""
