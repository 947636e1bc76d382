"""Geometry for the server-rendered charts (home bar charts, entity timelines).

The templates only place shapes at the coordinates computed here, so the
arithmetic is testable without parsing SVG. Coordinates are in the SVG's own
user units (its ``viewBox``); the browser scales the drawing to the page width.
"""

from __future__ import annotations

import calendar
import datetime
import math
from dataclasses import dataclass, field
from typing import NamedTuple

from registry.dates import PartialDate

# ---------------------------------------------------------------------------
# Horizontal bar chart
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    href: str
    share: float  # the bar's length, in percent of the longest bar's


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]  # the largest ``limit`` counts, drawn
    rows: list[Bar]  # every count, for the table
    max_count: int

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def more(self) -> int:
        """How many counts the drawing leaves out (they are in the table)."""
        return len(self.rows) - len(self.bars)


def bar_chart(items, *, limit: int = 15) -> BarChart:
    """Lay out ``items`` (label, count, href) as horizontal bars, the largest ``limit`` of them drawn.

    A bar's length is its count's share of the largest count. The template draws each bar as a link
    holding its label, an SVG bar and its number, so the text wraps on a phone and the link's name is
    its visible text; all the counts, drawn or not, go in the table.
    """
    items = sorted(items, key=lambda item: -item[1])  # stable: ties keep the caller's order
    max_count = max((count for _, count, _ in items), default=0)
    rows = [
        Bar(label=label, count=count, href=href, share=round(100 * count / max_count, 2) if max_count else 0)
        for label, count, href in items
    ]
    return BarChart(bars=rows[:limit], rows=rows, max_count=max_count)


# ---------------------------------------------------------------------------
# Timeline
# ---------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One licence or certification as the timeline needs it.

    ``start``/``end`` bound the drawn bar (``end`` None with ``open_ended``
    draws it up to today with an open end); ``point`` marks a single date
    (granted, issued) when there is no period to draw.
    """

    label: str
    href: str
    kind: str  # "licence" or "audit": styles the bar
    status: str
    start: PartialDate | None = None
    end: PartialDate | None = None
    open_ended: bool = False
    point: PartialDate | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class TimelineRow:
    item: TimelineItem
    y: float
    label_y: float
    bar_x: float | None
    bar_width: float | None
    point_x: float | None
    open_ended: bool
    mid_y: float
    arrow_points: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    ticks: list[Tick]
    width: int
    height: int
    axis_y: float
    tick_label_y: float
    today_x: float
    left: int
    right: int
    label_x: int = 10


def _dates_of(item: TimelineItem):
    return [d.first_day for d in (item.start, item.end, item.point) if d is not None]


@dataclass(frozen=True)
class _Axis:
    """Whole years from ``first_year`` to ``last_year`` (1 January of each) across ``left``..``right``."""

    first_year: int
    last_year: int
    left: int
    right: int

    @property
    def start(self) -> datetime.date:
        return datetime.date(self.first_year, 1, 1)

    def x_of(self, day: datetime.date) -> float:
        span = (datetime.date(self.last_year, 1, 1) - self.start).days
        return round(self.left + (self.right - self.left) * (day - self.start).days / span, 2)

    def ticks(self) -> list[Tick]:
        """About eight labelled years at most."""
        step = max(1, (self.last_year - self.first_year) // 8)
        years = range(self.first_year, self.last_year + 1, step)
        return [Tick(x=self.x_of(datetime.date(year, 1, 1)), label=str(year)) for year in years]


def _timeline_row(item: TimelineItem, top: float, axis: _Axis, today: datetime.date, bar_height: int) -> TimelineRow:
    """One item's bar (its period, up to today when open-ended), point and arrow head, ``top`` units down."""
    bar_x = bar_width = point_x = None
    if item.start is not None:
        bar_x = axis.x_of(item.start.first_day)
        if item.end is not None:
            end_x = axis.x_of(item.end.first_day)
        elif item.open_ended:
            end_x = axis.x_of(today)
        else:
            end_x = bar_x
        # A bar that starts and ends in the same period still needs to be visible.
        bar_width = max(round(end_x - bar_x, 2), 3)
    if item.point is not None:
        point_x = axis.x_of(item.point.first_day)
    y = top + 22
    open_ended = item.open_ended and item.end is None and bar_x is not None
    arrow = ""
    if open_ended:
        # An arrow head past today's end of the bar: the engagement or licence continues.
        tip = bar_x + bar_width
        arrow = f"{tip},{y} {round(tip + 10, 2)},{y + bar_height / 2} {tip},{y + bar_height}"
    return TimelineRow(
        item=item,
        y=y,
        label_y=top + 16,
        bar_x=bar_x,
        bar_width=bar_width,
        point_x=point_x,
        open_ended=open_ended,
        mid_y=y + bar_height / 2,
        arrow_points=arrow,
    )


def timeline(
    items,
    today: datetime.date,
    *,
    width: int = 800,
    left: int = 30,
    right_pad: int = 20,
    row_height: int = 44,
    bar_height: int = 14,
) -> Timeline:
    """Place ``items`` on a shared time axis running from the earliest date's year to after today.

    A partial date is plotted at the start of its period ("March 2025" at
    1 March), as the register stores it; its label stays as written.
    """
    items = list(items)
    dates = [d for item in items for d in _dates_of(item)] + [today]
    axis = _Axis(first_year=min(dates).year, last_year=max(dates).year + 1, left=left, right=width - right_pad)
    rows = [_timeline_row(item, index * row_height, axis, today, bar_height) for index, item in enumerate(items)]
    axis_y = len(items) * row_height + 4
    return Timeline(
        rows=rows,
        ticks=axis.ticks(),
        width=width,
        height=int(axis_y + 28),
        axis_y=axis_y,
        tick_label_y=axis_y + 18,
        today_x=axis.x_of(today),
        left=left,
        right=axis.right,
    )


class Span(NamedTuple):
    """Where a timeline draws a record: a bar from ``start`` to ``end`` (open-ended: up to today), and a ``point``
    marking a single date (granted, issued) when there is no period to draw."""

    start: PartialDate | None = None
    end: PartialDate | None = None
    open_ended: bool = False
    point: PartialDate | None = None

    @property
    def sort_key(self):
        """Oldest first, the undated last: the order a timeline lists its rows in."""
        when = self.start or self.point
        return (when is None, when.first_day if when else None)


def license_span(license) -> Span:
    """A licence runs from its grant to its end; while active with no end it is open-ended."""
    granted, ended = license.granted, license.ended
    active = license.status == license.Status.ACTIVE
    return Span(
        start=granted,
        end=ended,
        open_ended=active and ended is None,
        point=granted if granted and not ended and not active else None,
    )


def license_label(license) -> str:
    return f"{license.holder.name}: {license.license_type.regime.short_name} {license.license_type.name}"


def license_timeline_item(license, href: str) -> TimelineItem:
    granted, ended = license.granted, license.ended
    facts = [("Granted", str(granted) if granted else "not stated")]
    if ended:
        facts.append(("Ended", str(ended)))
    elif license.status == license.Status.ACTIVE:
        facts.append(("Ends", "no end date (in force)"))
    return TimelineItem(
        label=license_label(license),
        href=href,
        kind="licence",
        status=license.get_status_display(),
        facts=facts,
        **license_span(license)._asdict(),
    )


def audit_span(audit) -> Span:
    """An audit draws the period it covers, its validity, or an ongoing engagement, whichever is known; its issue
    date is marked when the bar does not start there."""
    issued, started, ended, valid = audit.issued, audit.period_started, audit.period_ended, audit.valid_until_date
    span = Span()
    if audit.ongoing:
        span = Span(start=started or issued, open_ended=True)
    elif started and ended:
        span = Span(start=started, end=ended)
    elif issued and valid:
        span = Span(start=issued, end=valid)
    if issued and (span.start is None or issued != span.start):
        span = span._replace(point=issued)
    return span


def audit_label(audit) -> str:
    what = audit.standard.name if audit.standard_id else audit.get_kind_display()
    who = f" by {audit.auditor.name}" if audit.auditor_id else ""
    return f"{audit.subject.name}: {what}{who}"


def audit_timeline_item(audit, href: str) -> TimelineItem:
    issued, started, ended, valid = audit.issued, audit.period_started, audit.period_ended, audit.valid_until_date
    facts = []
    if issued:
        facts.append(("Issued", str(issued)))
    if started or ended:
        until = ended or ("ongoing" if audit.ongoing else "not stated")
        facts.append(("Period covered", f"{started or 'not stated'} to {until}"))
    elif audit.ongoing:
        facts.append(("Period covered", "ongoing"))
    if valid:
        facts.append(("Valid until", str(valid)))
    return TimelineItem(
        label=audit_label(audit),
        href=href,
        kind="audit",
        status=_audit_status(audit),
        facts=facts,
        **audit_span(audit)._asdict(),
    )


def _audit_status(audit) -> str:
    if audit.ongoing:
        return "Ongoing"
    return "Current" if audit.is_valid() else "Not current"


# ---------------------------------------------------------------------------
# Line chart (figures over time: proof-of-reserves ratios and totals)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinePoint:
    x: float
    y: float
    day: datetime.date
    label: str  # the value as the table writes it: "105.2 %"
    flagged: bool  # drawn apart (a ratio under 100 %), as a square

    @property
    def corner_x(self) -> float:
        """The left of a flagged point's square (12 units wide, centred on the point)."""
        return round(self.x - 6, 2)

    @property
    def corner_y(self) -> float:
        return round(self.y - 6, 2)


@dataclass(frozen=True)
class AxisTick:
    position: float  # x for a date tick, y for a value tick
    label: str


@dataclass(frozen=True)
class LineChart:
    points: list[LinePoint]
    line: str  # the polyline's points, "x,y x,y"
    x_ticks: list[AxisTick]
    y_ticks: list[AxisTick]
    reference_y: float | None  # a horizontal line (100 %), when asked for and in range
    width: int
    height: int
    left: int
    right: int
    top: int
    axis_y: int

    @property
    def flagged(self) -> list[LinePoint]:
        return [point for point in self.points if point.flagged]


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``raw``."""
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _value_axis(values, reference, floor, ticks=4):
    low, high = min(values), max(values)
    if reference is not None:
        low, high = min(low, reference), max(high, reference)
    if floor is not None:
        low = min(low, floor)
    if high == low:
        high, low = high + max(abs(high) * 0.05, 1), low - max(abs(low) * 0.05, 1)
    step = _nice_step((high - low) / ticks)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    return low, high, [low + step * i for i in range(round((high - low) / step) + 1)]


def _month(day: datetime.date) -> str:
    return f"{calendar.month_abbr[day.month]} {day.year}"


def line_chart(
    series,
    *,
    value_label,
    reference=None,
    floor=None,
    width: int = 640,
    height: int = 220,
    left: int = 80,
    right_pad: int = 24,
    top: int = 12,
    bottom_pad: int = 36,
) -> LineChart | None:
    """Lay out ``series`` (``(day, value, flagged)``, any order) as a line over time; None when it is empty.

    Days run left to right in proportion to the time between them (one day alone sits in the middle);
    values bottom to top over rounded ticks that include ``reference`` (100 for a ratio, drawn as a line)
    and ``floor`` (0 for a total). ``value_label`` writes a value as its tick and its point do.
    """
    series = sorted((day, float(value), flagged) for day, value, flagged in series if value is not None)
    if not series:
        return None
    right, axis_y = width - right_pad, height - bottom_pad
    low, high, y_values = _value_axis([value for _, value, _ in series], reference, floor)
    first, last = series[0][0], series[-1][0]
    span = (last - first).days

    def x_of(day):
        return round(left + (right - left) * ((day - first).days / span if span else 0.5), 2)

    def y_of(value):
        return round(axis_y - (axis_y - top) * (value - low) / (high - low), 2)

    points = [LinePoint(x_of(day), y_of(value), day, value_label(value), flagged) for day, value, flagged in series]
    # At most six dates labelled, spread over the series, the first and the last among them.
    chosen = sorted({round(i * (len(series) - 1) / 5) for i in range(6)}) if len(series) > 6 else range(len(series))
    x_ticks = [AxisTick(points[i].x, _month(points[i].day)) for i in chosen]
    return LineChart(
        points=points,
        line=" ".join(f"{point.x},{point.y}" for point in points),
        x_ticks=x_ticks,
        y_ticks=[AxisTick(y_of(value), value_label(value)) for value in y_values],
        reference_y=y_of(reference) if reference is not None else None,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        axis_y=axis_y,
    )


__all__ = [
    "Bar",
    "BarChart",
    "Timeline",
    "TimelineItem",
    "LineChart",
    "Span",
    "audit_label",
    "audit_span",
    "audit_timeline_item",
    "bar_chart",
    "license_label",
    "license_span",
    "license_timeline_item",
    "line_chart",
    "timeline",
]
