"""Random values drawn from the generator's one ``random.Random``: weighted picks, partial dates, LEIs."""

from __future__ import annotations

import bisect
import datetime
import hashlib
import itertools

from stdnum.iso7064 import mod_97_10

from registry.dates import DatePrecision


class Weighted:
    """Fast repeated weighted choice (``random.choices`` recomputes the cumulative sums every call)."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng):
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def truncate(day: datetime.date, precision: str) -> datetime.date:
    """The first day of the period ``day`` falls in, as the partial-date constraints require."""
    if precision == DatePrecision.YEAR:
        return day.replace(month=1, day=1)
    if precision == DatePrecision.MONTH:
        return day.replace(day=1)
    return day


def random_day(rng, start: datetime.date, end: datetime.date) -> datetime.date:
    return start + datetime.timedelta(days=rng.randrange(max(1, (end - start).days)))


def partial(rng, day, precisions):
    """``(date, precision)`` with a random precision; the date is truncated to match it."""
    precision = precisions.pick(rng)
    return truncate(day, precision), precision


def partial_not_before(rng, day, floor, precisions):
    """A partial date for ``day`` that still sorts on or after ``floor`` once truncated (CHECK constraints)."""
    value, precision = partial(rng, day, precisions)
    if floor is not None and value < floor:
        return day, DatePrecision.DAY
    return value, precision


def make_lei(index: int) -> str:
    """A valid, unique ISO 17442 LEI: 18 characters from the index, then MOD 97-10 check digits."""
    base = f"DEMO00{index:012d}"
    return base + mod_97_10.calc_check_digits(base)


def sha256(text: str) -> str:
    # Source.save() sets the digest; bulk_create skips save(), so it is set here.
    return hashlib.sha256(text.encode()).hexdigest() if text else ""
