"""The /verify/ page's form: counterparties pasted or uploaded as CSV, read row by row.

Columns are ``name, lei, domain`` (then ``jurisdiction, service, reference``) in that order, or in any order
under a header row naming them. A row that cannot be read (too many cells) is reported on its own; the rest
are verified.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django import forms

from verification.service import MAX_ITEMS

COLUMNS = ("name", "lei", "domain", "jurisdiction", "service", "reference")
# Header names read as a column (a spreadsheet's "Website" or "Country" column).
HEADER_NAMES = {**{name: name for name in COLUMNS}, "website": "domain", "url": "domain", "country": "jurisdiction"}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_TEXT = 500_000


@dataclass
class Row:
    """One row read: its line in the text, the item it asks about, and what was wrong with it."""

    line: int
    item: dict
    errors: list[str] = field(default_factory=list)


def read_rows(text: str) -> list[Row]:
    """The non-blank rows of CSV ``text`` (comma, semicolon or tab separated), a header row left out."""
    lines = text.splitlines()
    sample = "\n".join(lines[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if any(d in sample for d in ",;\t") else csv.excel
    except csv.Error:
        dialect = csv.excel
    rows, columns = [], COLUMNS
    for number, cells in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if not rows and number == _first_line(lines) and _is_header(cells):
            columns = tuple(HEADER_NAMES.get(cell.casefold(), cell.casefold()) for cell in cells)
            continue
        row = Row(number, {})
        for column, cell in zip(columns, cells, strict=False):
            if cell and column in COLUMNS:
                row.item[column] = cell
        if len(cells) > len(columns):
            row.errors.append(f"{len(cells)} cells, but only {len(columns)} columns: {', '.join(columns)}.")
        rows.append(row)
    return rows


def _first_line(lines) -> int:
    return next((n for n, line in enumerate(lines, start=1) if line.strip()), 0)


def _is_header(cells) -> bool:
    names = [cell.casefold() for cell in cells if cell]
    known = all(name in HEADER_NAMES for name in names)
    return bool(names) and known and any(HEADER_NAMES[name] in ("name", "lei", "domain") for name in names)


class VerifyForm(forms.Form):
    rows = forms.CharField(
        label="Counterparties, one a line",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="As CSV: name, LEI, domain (a header row may name the columns, in any order; jurisdiction, "
        "service and reference may follow). One name a line is enough.",
    )
    upload = forms.FileField(
        label="Or upload a CSV file",
        required=False,
        help_text="UTF-8, at most 2 MB; it is read instead of the text above.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )
    jurisdiction = forms.CharField(
        label="Where the service is wanted",
        required=False,
        max_length=10,
        help_text="A country code (FR, MT) or EU, EEA, for every row that names none. Empty: anywhere.",
    )
    service = forms.CharField(
        label="Service wanted",
        required=False,
        max_length=300,
        help_text="A MiCA service code (a to j) or an activity, for every row that names none. Empty: any.",
    )
    as_of = forms.DateField(
        label="As the register stood on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: today's register.",
    )

    def clean(self):
        data = super().clean()
        upload = data.get("upload")
        if upload:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError("The file is larger than 2 MB: split it.")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError("The file is not UTF-8 text: save it as “CSV UTF-8”.") from exc
        else:
            text = data.get("rows") or ""
        rows = read_rows(text)
        if not rows:
            raise forms.ValidationError("Paste or upload at least one counterparty.")
        if len(rows) > MAX_ITEMS:
            raise forms.ValidationError(f"At most {MAX_ITEMS} counterparties at a time; there are {len(rows)}.")
        for row in rows:
            for name in ("jurisdiction", "service"):
                if data.get(name) and not row.item.get(name):
                    row.item[name] = data[name]
        data["parsed"] = rows
        data["text"] = text
        return data
