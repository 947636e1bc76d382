"""Dates known to the day, the month or only the year.

Sources say "March 2025", "since 2023" or "on January 16, 2024". The register
keeps each date with the precision its source gave and never shows more than
that: "March 2025" is never displayed as "1 March 2025".

A partial date is stored in two columns: a ``DateField`` holding the first day
of the period (so ordering and range filters stay plain SQL on every database)
and a ``<name>_precision`` column. :func:`partial_date_fields` declares the
pair, :class:`PartialDateDescriptor` exposes it as one :class:`PartialDate`
value, and :func:`partial_date_constraints` adds the database rules that keep
the two columns consistent (so ``loaddata`` cannot bypass them).
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass

from django.db import models
from django.db.models import F, Q


class DatePrecision(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


# Read on every date shown: ``DatePrecision.values`` builds a new list at each access.
_PRECISIONS = frozenset(DatePrecision.values)
_ISO_PARTIAL = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2}))?)?$", re.ASCII)


@dataclass(frozen=True, order=True)
class PartialDate:
    """A date together with how precisely it is known.

    ``date`` is the first day of the period: 2025-03-01 for "March 2025",
    2023-01-01 for "2023".
    """

    date: datetime.date
    precision: str = DatePrecision.DAY

    def __post_init__(self):
        if self.precision not in _PRECISIONS:
            raise ValueError(f"Unknown date precision {self.precision!r}.")
        if self.precision == DatePrecision.MONTH and self.date.day != 1:
            raise ValueError("A month-precision date must be stored as the first day of the month.")
        if self.precision == DatePrecision.YEAR and (self.date.month, self.date.day) != (1, 1):
            raise ValueError("A year-precision date must be stored as 1 January.")

    @classmethod
    def from_parts(cls, year: int, month: int | None = None, day: int | None = None) -> PartialDate:
        """Build from year, optional month and optional day (a day needs a month)."""
        if day is not None and month is None:
            raise ValueError("A day needs a month.")
        if month is None:
            return cls(datetime.date(year, 1, 1), DatePrecision.YEAR)
        if day is None:
            return cls(datetime.date(year, month, 1), DatePrecision.MONTH)
        return cls(datetime.date(year, month, day), DatePrecision.DAY)

    @classmethod
    def from_columns(cls, day: datetime.date | str | None, precision: str) -> PartialDate | None:
        """The date a (date, precision) column pair stores, as a model or ``values()`` reads it; None if blank."""
        if day is None:
            return None
        if isinstance(day, str):  # SQLite, read without the ORM's converters
            day = datetime.date.fromisoformat(day)
        return cls(day, precision or DatePrecision.DAY)

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse ISO 8601 with reduced precision: ``2025``, ``2025-03`` or ``2025-03-14``."""
        match = _ISO_PARTIAL.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a date written as YYYY, YYYY-MM or YYYY-MM-DD.")
        parts = [int(part) if part else None for part in match.group("year", "month", "day")]
        return cls.from_parts(*parts)

    def __str__(self) -> str:
        if self.precision == DatePrecision.YEAR:
            return str(self.date.year)
        month = calendar.month_name[self.date.month]
        if self.precision == DatePrecision.MONTH:
            return f"{month} {self.date.year}"
        return f"{self.date.day} {month} {self.date.year}"

    def isoformat(self) -> str:
        """ISO 8601 with reduced precision: ``2025``, ``2025-03`` or ``2025-03-14``."""
        if self.precision == DatePrecision.YEAR:
            return f"{self.date.year:04d}"
        if self.precision == DatePrecision.MONTH:
            return f"{self.date.year:04d}-{self.date.month:02d}"
        return self.date.isoformat()

    @property
    def first_day(self) -> datetime.date:
        return self.date

    @property
    def last_day(self) -> datetime.date:
        """The last day the date may stand for: 31 March 2025 for "March 2025"."""
        if self.precision == DatePrecision.YEAR:
            return datetime.date(self.date.year, 12, 31)
        if self.precision == DatePrecision.MONTH:
            last = calendar.monthrange(self.date.year, self.date.month)[1]
            return self.date.replace(day=last)
        return self.date


def partial_date_fields(verbose_name: str, help_text: str = ""):
    """Return the (date, precision) field pair for a partial date.

    Use as ``granted_on, granted_on_precision = partial_date_fields("granted on")``.
    Both are optional: a date the source does not give stays empty.
    """
    date_field = models.DateField(
        verbose_name,
        null=True,
        blank=True,
        help_text=help_text or f"The {verbose_name} date; for a month or year, the first day of it.",
    )
    precision_field = models.CharField(
        f"{verbose_name} precision",
        max_length=5,
        blank=True,
        default="",
        choices=DatePrecision.choices,
        help_text="How precisely the source gives the date: day, month or year only.",
    )
    return date_field, precision_field


class PartialDateDescriptor:
    """Read and write a (date, precision) column pair as one :class:`PartialDate`."""

    def __init__(self, date_attname: str):
        self.date_attname = date_attname
        self.precision_attname = f"{date_attname}_precision"

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return PartialDate.from_columns(getattr(instance, self.date_attname), getattr(instance, self.precision_attname))

    def __set__(self, instance, value):
        if isinstance(value, str):
            value = PartialDate.parse(value) if value else None
        setattr(instance, self.date_attname, value.date if value else None)
        setattr(instance, self.precision_attname, value.precision if value else "")


def dates_in_order(name: str, earlier: str, later: str, message: str) -> models.CheckConstraint:
    """Database rule: the date ``later`` is not before ``earlier`` when both are known (an end and its start)."""
    return models.CheckConstraint(
        condition=Q(**{f"{later}__isnull": True})
        | Q(**{f"{earlier}__isnull": True})
        | Q(**{f"{later}__gte": F(earlier)}),
        name=name,
        violation_error_message=message,
    )


def partial_date_constraints(prefix: str, date_attname: str) -> list[models.CheckConstraint]:
    """Database rules for one partial date: a known precision, set together, first day of its period."""
    precision = f"{date_attname}_precision"
    name = f"{prefix}_{date_attname}"
    return [
        models.CheckConstraint(
            condition=Q(**{f"{precision}__in": ["", *DatePrecision.values]}),
            name=f"{name}_precision_valid",
            violation_error_message="The date precision must be day, month or year.",
        ),
        models.CheckConstraint(
            condition=(Q(**{f"{date_attname}__isnull": True}) & Q(**{precision: ""}))
            | (Q(**{f"{date_attname}__isnull": False}) & ~Q(**{precision: ""})),
            name=f"{name}_precision_set",
            violation_error_message="A date needs its precision, and a precision needs a date.",
        ),
        models.CheckConstraint(
            condition=~Q(**{precision: DatePrecision.MONTH}) | Q(**{f"{date_attname}__day": 1}),
            name=f"{name}_month_first_day",
            violation_error_message="A date known to the month is stored as the first day of that month.",
        ),
        models.CheckConstraint(
            condition=~Q(**{precision: DatePrecision.YEAR})
            | Q(**{f"{date_attname}__day": 1, f"{date_attname}__month": 1}),
            name=f"{name}_year_first_day",
            violation_error_message="A date known to the year is stored as 1 January of that year.",
        ),
    ]
