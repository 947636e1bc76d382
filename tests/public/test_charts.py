"""Geometry of the server-rendered SVG charts, and how they are drawn on the pages."""

import datetime
import re

import pytest

from public import charts
from registry.dates import PartialDate
from tests import factories

TODAY = datetime.date(2026, 1, 1)


def test_bars_are_proportional_to_counts_and_keep_their_links():
    chart = charts.bar_chart(
        [("Malta (MT)", 4, "/licenses/?granted_in=MT"), ("Singapore (SG)", 1, "/licenses/?granted_in=SG")]
    )
    malta, singapore = chart.bars
    assert malta.share == 100
    assert singapore.share == pytest.approx(25)
    assert (malta.href, singapore.href) == ("/licenses/?granted_in=MT", "/licenses/?granted_in=SG")
    assert chart.max_count == 4


def test_bar_chart_of_nothing_is_empty_and_zero_counts_draw_no_bar():
    assert charts.bar_chart([]).bars == []
    chart = charts.bar_chart([("Nowhere", 0, "/licenses/?granted_in=XX")])
    assert chart.bars[0].share == 0


def test_timeline_plots_a_partial_date_at_the_start_of_its_period():
    march = charts.TimelineItem(
        label="MiFID II", href="/licenses/a/", kind="licence", status="Active", start=PartialDate.parse("2025-03")
    )
    first_of_march = charts.TimelineItem(
        label="Other", href="/licenses/b/", kind="licence", status="Active", start=PartialDate.parse("2025-03-01")
    )
    line = charts.timeline([march, first_of_march], TODAY)
    assert line.rows[0].bar_x == line.rows[1].bar_x


def test_timeline_axis_spans_whole_years_and_places_dates_in_order():
    items = [
        charts.TimelineItem(label="a", href="/", kind="audit", status="", start=PartialDate.parse("2023")),
        charts.TimelineItem(label="b", href="/", kind="licence", status="", start=PartialDate.parse("2025-02")),
    ]
    line = charts.timeline(items, TODAY, width=800, left=30, right_pad=20)
    assert [tick.label for tick in line.ticks] == ["2023", "2024", "2025", "2026", "2027"]
    assert line.ticks[0].x == 30 and line.ticks[-1].x == 780
    a, b = line.rows
    assert a.bar_x == 30
    assert a.bar_x < b.bar_x < line.today_x < 780
    assert b.y > a.y


def test_open_ended_item_runs_to_today_with_an_arrow():
    item = charts.TimelineItem(
        label="SlowMist", href="/", kind="audit", status="Ongoing", start=PartialDate.parse("2023"), open_ended=True
    )
    (row,) = charts.timeline([item], TODAY).rows
    assert row.open_ended
    assert row.bar_x + row.bar_width == pytest.approx(charts.timeline([item], TODAY).today_x)
    assert row.arrow_points


def test_closed_period_ends_at_its_end_date():
    item = charts.TimelineItem(
        label="SOC 2",
        href="/",
        kind="audit",
        status="",
        start=PartialDate.parse("2024-01"),
        end=PartialDate.parse("2024-07"),
    )
    line = charts.timeline([item], TODAY)
    (row,) = line.rows
    assert not row.open_ended and row.arrow_points == ""
    assert row.bar_x + row.bar_width < line.today_x


def test_a_single_date_is_a_point_not_a_bar():
    item = charts.TimelineItem(label="ISO", href="/", kind="audit", status="", point=PartialDate.parse("2025-05"))
    (row,) = charts.timeline([item], TODAY).rows
    assert row.bar_x is None and row.point_x is not None


@pytest.mark.django_db
def test_licence_item_keeps_dates_as_written_and_is_open_while_active():
    licence = factories.LicenseFactory(holder__name="OKX", license_type__regime__short_name="MiCA")
    item = charts.license_timeline_item(licence, licence.get_absolute_url())
    assert item.start == PartialDate.parse("2025-03")
    assert item.open_ended and item.end is None
    assert ("Granted", "March 2025") in item.facts
    assert item.label.startswith("OKX: MiCA")
    assert item.href == licence.get_absolute_url()


@pytest.mark.django_db
def test_ended_licence_is_a_closed_bar():
    licence = factories.LicenseFactory(status="revoked", ended_on=datetime.date(2025, 6, 1), ended_on_precision="month")
    item = charts.license_timeline_item(licence, "/")
    assert item.end == PartialDate.parse("2025-06") and not item.open_ended
    assert ("Ended", "June 2025") in item.facts


@pytest.mark.django_db
def test_audit_items_show_ongoing_engagements_periods_and_validity():
    ongoing = charts.audit_timeline_item(factories.OngoingAuditFactory(), "/")
    assert ongoing.open_ended and ongoing.start == PartialDate.parse("2023")
    assert ongoing.status == "Ongoing"
    certificate = factories.AuditFactory(valid_until=datetime.date(2028, 5, 1), valid_until_precision="month")
    item = charts.audit_timeline_item(certificate, "/")
    assert (item.start, item.end) == (PartialDate.parse("2025-05"), PartialDate.parse("2028-05"))
    assert ("Valid until", "May 2028") in item.facts
    issued_only = charts.audit_timeline_item(factories.AuditFactory(), "/")
    assert issued_only.start is None and issued_only.point == PartialDate.parse("2025-05")


@pytest.mark.django_db
def test_home_bars_are_links_with_lengths_from_the_geometry(client):
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    singapore = factories.JurisdictionFactory(code="SG", name="Singapore")
    factories.LicenseFactory.create_batch(2, jurisdiction=malta)
    factories.LicenseFactory(jurisdiction=singapore)
    html = client.get("/").content.decode()
    chart = html[html.index('<ol class="bar-chart"') : html.index("</ol>")]
    links = re.findall(r'<a href="([^"]+)"', chart)
    assert links == ["/licenses/?granted_in=MT", "/licenses/?granted_in=SG"]
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([0-9.]+)"', chart)]
    assert widths[0] == pytest.approx(2 * widths[1])


def test_a_chart_draws_its_fifteen_largest_counts_and_keeps_every_count_for_its_table():
    items = [(f"Place {n}", n, f"/licenses/?jurisdiction=P{n}") for n in range(1, 201)]
    chart = charts.bar_chart(items)
    assert [bar.count for bar in chart.bars] == list(range(200, 185, -1))
    assert chart.total == 200 and chart.more == 185
    assert sorted(bar.href for bar in chart.rows) == sorted(href for _, _, href in items)


@pytest.mark.django_db
def test_home_shows_each_chart_once_with_every_count_in_a_folded_table(client):
    for number in range(20):
        factories.LicenseFactory.create_batch(number + 1, jurisdiction=factories.JurisdictionFactory())
    html = client.get("/").content.decode()
    figure = html[html.index('<figcaption id="chart-jurisdiction-title">') :]
    figure = figure[: figure.index("</figure>")]
    drawn, folded = figure.split("<details", 1)
    assert len(re.findall(r'<rect class="bar"', drawn)) == 15
    assert "<table" not in drawn
    assert "All 20 as a table" in folded
    assert len(re.findall(r"<tr><td><a href=", folded)) == 20
    # The largest count is drawn first; the smallest only in the table.
    assert re.search(r'<span class="bar-value">20<', drawn)
    assert not re.search(r'<span class="bar-value">1<', drawn)


# ---------------------------------------------------------------------------
# Line chart (proof-of-reserves figures over time)
# ---------------------------------------------------------------------------


def test_a_line_chart_places_days_in_proportion_and_marks_the_reference():
    chart = charts.line_chart(
        [
            (datetime.date(2025, 3, 1), 96, True),
            (datetime.date(2025, 1, 1), 104, False),
            (datetime.date(2025, 2, 1), 101, False),
        ],
        value_label=lambda value: f"{value:.0f} %",
        reference=100,
    )
    xs = [point.x for point in chart.points]
    assert [point.day.month for point in chart.points] == [1, 2, 3]  # oldest first, whatever the order given
    assert xs[0] == chart.left and xs[-1] == chart.right
    assert xs[1] - xs[0] == pytest.approx((xs[2] - xs[0]) * 31 / 59, abs=0.01)  # 31 of the 59 days
    ys = [point.y for point in chart.points]
    assert chart.top <= min(ys) and max(ys) <= chart.axis_y
    assert chart.points[0].y < chart.reference_y < chart.points[2].y
    assert [point.label for point in chart.flagged] == ["96 %"]
    assert chart.line.split() == [f"{point.x},{point.y}" for point in chart.points]
    assert [tick.label for tick in chart.x_ticks] == ["Jan 2025", "Feb 2025", "Mar 2025"]


def test_a_line_chart_of_one_day_draws_it_in_the_middle_and_keeps_the_floor():
    chart = charts.line_chart([(datetime.date(2025, 1, 1), 500, False)], value_label=str, floor=0)
    (point,) = chart.points
    assert point.x == (chart.left + chart.right) / 2
    assert chart.y_ticks[0].label == "0"  # the axis starts at the floor
    assert charts.line_chart([(datetime.date(2025, 1, 1), None, False)], value_label=str) is None


def test_a_line_chart_labels_at_most_six_days():
    days = [(datetime.date(2020, 1, 1) + datetime.timedelta(days=30 * n), 100 + n, False) for n in range(40)]
    chart = charts.line_chart(days, value_label=str)
    assert 2 <= len(chart.x_ticks) <= 6
    assert chart.x_ticks[0].position == chart.left and chart.x_ticks[-1].position == chart.right
