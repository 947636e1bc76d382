"""Partial dates: a date shown with exactly the precision its source gave."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import models
from registry.dates import DatePrecision, PartialDate, PartialDateDescriptor
from tests.factories import LicenseFactory, SourceFactory

D = datetime.date
DAY, MONTH, YEAR = DatePrecision.DAY, DatePrecision.MONTH, DatePrecision.YEAR


# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (PartialDate(D(2025, 3, 1), MONTH), "March 2025"),
        (PartialDate(D(2023, 1, 1), YEAR), "2023"),
        (PartialDate(D(2024, 1, 16), DAY), "16 January 2024"),
        (PartialDate(D(2025, 3, 1), DAY), "1 March 2025"),
        (PartialDate(D(2025, 12, 1), MONTH), "December 2025"),
        (PartialDate(D(999, 1, 1), YEAR), "999"),
    ],
)
def test_str_shows_exactly_the_known_precision(value, shown):
    assert str(value) == shown


def test_a_month_is_never_shown_as_its_first_day():
    assert "1 March" not in str(PartialDate.parse("2025-03"))
    assert "January" not in str(PartialDate.parse("2023"))


def test_default_precision_is_day():
    assert PartialDate(D(2024, 1, 16)).precision == DAY


# ---------------------------------------------------------------------------
# Parsing and ISO output
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025", PartialDate(D(2025, 1, 1), YEAR)),
        ("2025-03", PartialDate(D(2025, 3, 1), MONTH)),
        ("2025-03-14", PartialDate(D(2025, 3, 14), DAY)),
        ("  2025-03  ", PartialDate(D(2025, 3, 1), MONTH)),
        ("2024-02-29", PartialDate(D(2024, 2, 29), DAY)),
        # The pattern takes one- or two-digit months and days: lenient input, normalised on output.
        ("2025-3", PartialDate(D(2025, 3, 1), MONTH)),
        ("2025-3-1", PartialDate(D(2025, 3, 1), DAY)),
    ],
)
def test_parse_accepts_reduced_precision_iso(text, expected):
    parsed = PartialDate.parse(text)
    assert parsed == expected
    assert parsed.precision == expected.precision


def test_lenient_input_is_normalised_to_iso():
    assert PartialDate.parse("2025-3-1").isoformat() == "2025-03-01"
    assert PartialDate.parse("2025-3").isoformat() == "2025-03"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2025-13",  # no 13th month
        "2025-00",
        "2025-02-30",  # no 30 February
        "2023-02-29",  # not a leap year
        "2025-03-00",
        "25-03",  # two-digit year
        "20251",
        "2025-",
        "2025-03-",
        "2025/03/14",
        "14-03-2025",
        "2025-03-14T10:00",
        "2025-003",
        "March 2025",
        "0000",  # there is no year 0
        "abcd",
    ],
)
def test_parse_rejects_invalid_input_with_value_error(text):
    with pytest.raises(ValueError):
        PartialDate.parse(text)


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        (PartialDate(D(2025, 1, 1), YEAR), "2025"),
        (PartialDate(D(2025, 3, 1), MONTH), "2025-03"),
        (PartialDate(D(2025, 3, 14), DAY), "2025-03-14"),
        (PartialDate(D(42, 1, 1), YEAR), "0042"),
        (PartialDate(D(42, 7, 1), MONTH), "0042-07"),
    ],
)
def test_isoformat(value, iso):
    assert value.isoformat() == iso


def _start_of_period(day: datetime.date, precision: str) -> datetime.date:
    if precision == YEAR:
        return day.replace(month=1, day=1)
    if precision == MONTH:
        return day.replace(day=1)
    return day


partial_dates = st.builds(
    lambda day, precision: PartialDate(_start_of_period(day, precision), precision),
    st.dates(min_value=D(1, 1, 1), max_value=D(9999, 12, 31)),
    st.sampled_from(DatePrecision.values),
)


@given(partial_dates)
def test_isoformat_and_parse_round_trip(value):
    parsed = PartialDate.parse(value.isoformat())
    assert parsed == value
    assert parsed.precision == value.precision


@given(partial_dates)
def test_period_bounds_are_consistent(value):
    assert value.first_day == value.date
    assert value.first_day <= value.last_day
    # The period is the set of days that share the known parts of the date.
    assert PartialDate.parse(value.isoformat()).last_day == value.last_day
    if value.precision == YEAR:
        assert (value.last_day.month, value.last_day.day) == (12, 31)
    elif value.precision == MONTH:
        assert (value.last_day + datetime.timedelta(days=1)).day == 1
        assert value.last_day.month == value.date.month
    else:
        assert value.last_day == value.date


@given(partial_dates)
def test_str_never_shows_more_than_is_known(value):
    shown = str(value)
    assert str(value.date.year) in shown
    if value.precision == YEAR:
        assert shown == str(value.date.year)
    elif value.precision == MONTH:
        assert not shown[0].isdigit()
    else:
        assert shown.startswith(f"{value.date.day} ")


# ---------------------------------------------------------------------------
# First and last day of the period
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        (PartialDate(D(2024, 2, 1), MONTH), D(2024, 2, 1), D(2024, 2, 29)),  # leap year
        (PartialDate(D(2023, 2, 1), MONTH), D(2023, 2, 1), D(2023, 2, 28)),
        (PartialDate(D(2100, 2, 1), MONTH), D(2100, 2, 1), D(2100, 2, 28)),  # not a leap year
        (PartialDate(D(2000, 2, 1), MONTH), D(2000, 2, 1), D(2000, 2, 29)),
        (PartialDate(D(2025, 3, 1), MONTH), D(2025, 3, 1), D(2025, 3, 31)),
        (PartialDate(D(2025, 4, 1), MONTH), D(2025, 4, 1), D(2025, 4, 30)),
        (PartialDate(D(2025, 12, 1), MONTH), D(2025, 12, 1), D(2025, 12, 31)),
        (PartialDate(D(2023, 1, 1), YEAR), D(2023, 1, 1), D(2023, 12, 31)),
        (PartialDate(D(2024, 1, 16), DAY), D(2024, 1, 16), D(2024, 1, 16)),
    ],
)
def test_first_and_last_day(value, first, last):
    assert value.first_day == first
    assert value.last_day == last


# ---------------------------------------------------------------------------
# Invariants and construction
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "precision"),
    [
        (D(2025, 3, 15), MONTH),  # a month is stored as its first day
        (D(2025, 3, 1), YEAR),  # a year is stored as 1 January
        (D(2025, 1, 2), YEAR),
        (D(2025, 3, 1), "week"),
        (D(2025, 3, 1), ""),
    ],
)
def test_inconsistent_values_cannot_be_built(day, precision):
    with pytest.raises(ValueError):
        PartialDate(day, precision)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((2025,), PartialDate(D(2025, 1, 1), YEAR)),
        ((2025, 3), PartialDate(D(2025, 3, 1), MONTH)),
        ((2025, 3, 14), PartialDate(D(2025, 3, 14), DAY)),
    ],
)
def test_from_parts(parts, expected):
    assert PartialDate.from_parts(*parts) == expected


def test_from_parts_refuses_a_day_without_a_month():
    with pytest.raises(ValueError, match="day needs a month"):
        PartialDate.from_parts(2025, day=14)


def test_values_are_immutable_and_hashable():
    value = PartialDate.parse("2025-03")
    with pytest.raises(AttributeError):
        value.precision = DAY  # type: ignore[misc]
    assert len({value, PartialDate.parse("2025-03"), PartialDate.parse("2025-03-01")}) == 2


def test_same_first_day_with_different_precision_is_a_different_value():
    assert PartialDate.parse("2025-03") != PartialDate.parse("2025-03-01")
    assert PartialDate.parse("2025") != PartialDate.parse("2025-01")


def test_values_sort_chronologically():
    values = [
        PartialDate.parse("2025-03"),
        PartialDate.parse("2023"),
        PartialDate.parse("2024-01-16"),
        PartialDate.parse("2025-02-28"),
    ]
    assert [str(v) for v in sorted(values)] == ["2023", "16 January 2024", "28 February 2025", "March 2025"]
    assert PartialDate.parse("2023") < PartialDate.parse("2023-06") < PartialDate.parse("2023-06-02")
    assert max(values) == PartialDate.parse("2025-03")


# ---------------------------------------------------------------------------
# PartialDateDescriptor on a model
# ---------------------------------------------------------------------------


def test_descriptor_on_the_class_is_the_descriptor():
    assert isinstance(models.License.granted, PartialDateDescriptor)
    assert models.License.granted.precision_attname == "granted_on_precision"


def test_setting_a_string_sets_both_columns():
    licence = models.License()
    licence.granted = "2025-03"
    assert licence.granted_on == D(2025, 3, 1)
    assert licence.granted_on_precision == MONTH
    assert licence.granted == PartialDate(D(2025, 3, 1), MONTH)
    assert str(licence.granted) == "March 2025"


def test_setting_a_partial_date_sets_both_columns():
    licence = models.License()
    licence.granted = PartialDate(D(2023, 1, 1), YEAR)
    assert (licence.granted_on, licence.granted_on_precision) == (D(2023, 1, 1), YEAR)


@pytest.mark.parametrize("empty", [None, ""])
def test_setting_nothing_clears_both_columns(empty):
    licence = models.License(granted_on=D(2025, 3, 1), granted_on_precision=MONTH)
    licence.granted = empty
    assert licence.granted_on is None
    assert licence.granted_on_precision == ""
    assert licence.granted is None


def test_setting_an_invalid_string_raises_and_leaves_the_columns_alone():
    licence = models.License(granted_on=D(2025, 3, 1), granted_on_precision=MONTH)
    with pytest.raises(ValueError):
        licence.granted = "2025-13"
    assert (licence.granted_on, licence.granted_on_precision) == (D(2025, 3, 1), MONTH)


def test_getting_an_unset_date_gives_none():
    assert models.License().granted is None


def test_a_date_without_precision_reads_as_day_precision():
    licence = models.License(granted_on=D(2025, 3, 14))
    assert licence.granted == PartialDate(D(2025, 3, 14), DAY)


def test_a_date_still_held_as_a_string_is_read():
    # Assigning the raw column (as a form or deserializer may) leaves a string until the model is saved.
    licence = models.License(granted_on="2025-03-01", granted_on_precision=MONTH)
    assert licence.granted == PartialDate(D(2025, 3, 1), MONTH)


@pytest.mark.django_db
def test_partial_dates_survive_the_database():
    licence = LicenseFactory()
    licence.granted = "2024"
    licence.ended = "2025-06-30"
    licence.save()
    source = SourceFactory()
    source.publication_date = "2025-03"
    source.save()

    licence = models.License.objects.get(pk=licence.pk)
    source = models.Source.objects.get(pk=source.pk)
    assert licence.granted == PartialDate(D(2024, 1, 1), YEAR)
    assert licence.ended == PartialDate(D(2025, 6, 30), DAY)
    assert str(source.publication_date) == "March 2025"


@pytest.mark.django_db
def test_every_partial_date_pair_has_a_descriptor():
    """Each ``<name>_precision`` column is reachable as one PartialDate value on its model."""
    from django.apps import apps

    pairs = set()
    declared = [m for m in apps.get_app_config("registry").get_models() if not m.__name__.startswith("Historical")]
    for model in declared:
        for field in model._meta.get_fields():
            if getattr(field, "attname", "").endswith("_precision"):
                pairs.add((model, field.attname.removesuffix("_precision")))
    described = {
        (model, attr.date_attname)
        for model in declared
        for attr in vars(model).values()
        if isinstance(attr, PartialDateDescriptor)
    }
    assert pairs
    assert pairs == described
