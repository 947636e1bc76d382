"""The query strings of the official register's pages and exports: checked once, for both."""

from __future__ import annotations

from django import forms

from official.models import ChangeKind

KIND_CHOICES = [("", "All changes"), *ChangeKind.choices]


class KindForm(forms.Form):
    kind = forms.ChoiceField(
        label="Show", choices=KIND_CHOICES, required=False, help_text="Listed, changed or no longer listed."
    )


class DiffForm(KindForm):
    """``?from=DATE&to=DATE``: two snapshot days of the register (``dates``), the first before the second."""

    def __init__(self, data, dates, **kwargs):
        super().__init__(data, **kwargs)
        choices = [(day.isoformat(), f"{day.day} {day:%B %Y}") for day in dates]
        self.fields["from"] = forms.ChoiceField(
            label="From the snapshot of", choices=choices, error_messages={"invalid_choice": self.NOT_A_SNAPSHOT}
        )
        self.fields["to"] = forms.ChoiceField(
            label="To the snapshot of", choices=choices, error_messages={"invalid_choice": self.NOT_A_SNAPSHOT}
        )
        self.order_fields(["from", "to", "kind"])

    NOT_A_SNAPSHOT = "%(value)s is not the day of a snapshot of this register (a date as YYYY-MM-DD, from the list)."

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start >= end:
            self.add_error("to", forms.ValidationError("Pick a snapshot newer than the first.", code="order"))
        return cleaned
