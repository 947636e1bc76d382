"""The public list pages: filters, search, sort, facets, pagination and bad input, over HTTP."""

import csv
import datetime
import io
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from public.views import LICENSE_ROW, LicenseListView
from registry import models
from registry.dates import DatePrecision
from registry.models import AuditKind, License, LicenseStatus
from tests import factories
from tests.public.test_filters import okx, world  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db

LISTS = ["license-list", "audit-list", "entity-list", "regulator-list"]


def get(client, name, query=""):
    url = reverse(f"public:{name}") + (f"?{query}" if query else "")
    response = client.get(url)
    assert response.status_code == 200
    return response


def slugs(response):
    return [obj.slug for obj in response.context["object_list"]]


def links(response):
    return [unescape(href) for href in re.findall(r'href="([^"]*)"', response.content.decode())]


def query_of(url):
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize("name", LISTS)
def test_every_list_page_has_a_title_one_h1_and_export_links(client, okx, name):  # noqa: F811
    response = get(client, name)
    html = response.content.decode()
    assert html.count("<h1") == 1
    assert "<title>" in html
    assert "<main" in html
    export = name.replace("-list", "-export")
    assert reverse(f"public:{export}", kwargs={"format": "csv"}) in html
    assert reverse(f"public:{export}", kwargs={"format": "json"}) in html


def test_licence_list_shows_published_licences_with_partial_dates(client, okx):  # noqa: F811
    response = get(client, "license-list")
    assert set(slugs(response)) == {"okx-mica-casp", "okx-middle-east-vara-vasp", "okx-sg-mpi"}
    html = response.content.decode()
    assert "February 2025" in html
    assert "1 February 2025" not in html
    assert reverse("public:license-detail", kwargs={"slug": "okx-mica-casp"}) in html


def test_drafts_never_appear_in_lists_or_facets(client, okx):  # noqa: F811
    draft_regime = factories.DraftRegimeFactory(slug="draft-regime", short_name="Secret Regime")
    factories.DraftLicenseFactory(slug="draft-licence", holder=okx["group"])
    factories.LicenseFactory(slug="licence-under-draft-regime", license_type__regime=draft_regime)
    factories.LicenseFactory(slug="uncited-licence", citations=False)
    factories.DraftEntityFactory(slug="draft-entity", name="Hidden Holdings")
    factories.DraftRegulatorFactory(slug="draft-regulator", name="Hidden Authority")
    factories.DraftAuditFactory(slug="draft-audit", subject=okx["group"])
    for name in LISTS:
        html = get(client, name).content.decode()
        for secret in ("draft-", "Secret Regime", "Hidden Holdings", "Hidden Authority", "uncited-licence"):
            assert secret not in html, (name, secret)


def test_affiliate_of_a_draft_group_does_not_show_the_group(client):
    hidden = factories.DraftEntityFactory(slug="hidden-group", name="Hidden Group", kind="group")
    factories.AffiliateFactory(slug="visible-affiliate", parent=hidden)
    html = get(client, "entity-list").content.decode()
    assert "visible-affiliate" in html
    assert "Hidden Group" not in html


class TestFiltersOverHttp:
    def test_filter_search_and_combination(self, client, okx):  # noqa: F811
        assert slugs(get(client, "license-list", "usable_in=MT&regime=mica")) == ["okx-mica-casp"]
        assert slugs(get(client, "license-list", "q=VASP")) == ["okx-middle-east-vara-vasp"]
        assert set(slugs(get(client, "entity-list", "group=okx"))) == {"okx-middle-east", "okx-sg"}
        assert slugs(get(client, "regulator-list", "jurisdiction=AE")) == ["vara"]

    def test_filter_form_keeps_the_submitted_values(self, client, okx):  # noqa: F811
        html = get(client, "license-list", "usable_in=MT&q=okx").content.decode()
        assert 'name="usable_in" value="MT"' in html
        assert 'name="q" value="okx"' in html

    def test_audit_filters_over_http(self, client, okx):  # noqa: F811
        factories.OngoingAuditFactory(slug="ongoing", subject=okx["group"])
        factories.AuditFactory(slug="iso", subject=okx["sg"], standard__slug="iso-27001")
        assert slugs(get(client, "audit-list", "ongoing=true")) == ["ongoing"]
        assert slugs(get(client, "audit-list", "standard=iso-27001&subject=okx")) == ["iso"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ("status=bogus", "status", "Select a valid choice"),
            ("granted_after=2025-13-45", "granted_after", "Enter a valid date"),
            ("in_force_on=2025-02-30", "in_force_on", "Enter a valid date"),
            ("usable_in=NOPE", "usable_in", "Unknown jurisdiction code"),
            ("regulator=nobody", "regulator", "Select a valid choice"),
            ("sort=password", "sort", "Select a valid choice"),
            ("q=" + "x" * 10_000, "q", "at most 200 characters"),
            ("q=ok%00x", "q", "Null characters are not allowed"),
            ("holder=okx%00", "holder", "Null characters are not allowed"),
        ],
    )
    def test_bad_filter_value_shows_message_beside_the_field_and_the_list(self, client, okx, query, field, message):  # noqa: F811
        response = get(client, "license-list", query + "&regime=mica")
        html = response.content.decode()
        errors = re.search(rf'<ul class="field-errors" id="id_{field}_errors">(.*?)</ul>', html, re.S)
        assert errors is not None
        assert message in unescape(errors.group(1))
        # The bad parameter is ignored; the good one still filters.
        assert slugs(response) == ["okx-mica-casp"]

    @pytest.mark.parametrize("name", LISTS)
    @pytest.mark.parametrize("page", ["-1", "abc", "0", "999", "1%00", "9" * 5000])
    def test_bad_page_shows_page_one_with_a_message(self, client, okx, name, page):  # noqa: F811
        response = get(client, name, f"page={page}")
        assert response.context["page_obj"].number == 1
        assert "Page must be a whole number from 1 to 1" in response.content.decode()

    @pytest.mark.parametrize("name", LISTS)
    def test_unknown_choices_on_every_list_never_500(self, client, okx, name):  # noqa: F811
        where = "usable_in" if name == "license-list" else "jurisdiction"
        query = f"kind=bogus&standard=nope&auditor=x&subject=y&group=z&regime=r&{where}=%00&issued_after=2025-13-45"
        response = get(client, name, query + "&valid_on=abc&ongoing=maybe&sort=-nonsense&q=" + "y" * 300)
        assert response.context["filter"].errors


class TestSortAndPagination:
    @pytest.fixture
    def many(self):
        holder = factories.EntityFactory(slug="holder", name="Holder")
        licence_type = factories.LicenseTypeFactory()
        source = factories.SourceFactory()
        for day in range(1, 61):
            factories.LicenseFactory(
                slug=f"lic-{day:02d}",
                holder=holder,
                license_type=licence_type,
                granted_on=datetime.date(2024, 1, 1) + datetime.timedelta(days=day),
                granted_on_precision=DatePrecision.DAY,
                citations=[source],
            )

    def test_sort_by_column_both_ways(self, client, many):
        assert slugs(get(client, "license-list", "sort=granted_on"))[0] == "lic-01"
        assert slugs(get(client, "license-list", "sort=-granted_on"))[0] == "lic-60"

    def test_sort_header_links_keep_filters_and_toggle_direction(self, client, many):
        response = get(client, "license-list", "q=holder&sort=granted_on&page=2")
        link = response.context["sort_links"]["granted_on"]
        assert link["state"] == "ascending"
        assert query_of(link["url"]) == {"q": ["holder"], "sort": ["-granted_on"]}
        assert 'aria-sort="ascending"' in response.content.decode()

    def test_pages_hold_fifty_rows_and_links_keep_other_params(self, client, many):
        first = get(client, "license-list", "q=holder&sort=-granted_on")
        assert len(slugs(first)) == 50
        next_links = [href for href in links(first) if "page=2" in href]
        assert next_links
        assert all(
            query_of(href)["q"] == ["holder"] and query_of(href)["sort"] == ["-granted_on"] for href in next_links
        )
        second = get(client, "license-list", "q=holder&sort=-granted_on&page=2")
        assert slugs(second) == [f"lic-{day:02d}" for day in range(10, 0, -1)]

    def test_page_beyond_last_shows_message(self, client, many):
        response = get(client, "license-list", "page=3")
        assert "Page must be a whole number from 1 to 2" in response.content.decode()
        assert response.context["page_obj"].number == 1

    def test_export_links_carry_the_filters_but_not_the_page(self, client, many):
        response = get(client, "license-list", "q=holder&page=2")
        assert query_of(response.context["csv_url"]) == {"q": ["holder"]}
        assert response.context["json_url"].startswith(reverse("public:license-export", kwargs={"format": "json"}))


class TestFacetsOverHttp:
    def test_facet_values_counts_selection_and_toggle_urls(self, client, okx):  # noqa: F811
        response = get(client, "license-list", "q=okx&status=active&page=1")
        status = next(facet for facet in response.context["facets"] if facet["param"] == "status")
        values = {value["value"]: value for value in status["values"]}
        assert values["active"]["count"] == 2
        assert values["active"]["selected"] is True
        assert values["suspended"]["count"] == 1
        assert values["suspended"]["selected"] is False
        # Selecting keeps q, replaces status, drops page; deselecting removes status.
        assert query_of(values["suspended"]["url"]) == {"q": ["okx"], "status": ["suspended"]}
        assert query_of(values["active"]["url"]) == {"q": ["okx"]}

    def test_facet_rendered_with_counts(self, client, okx):  # noqa: F811
        html = get(client, "license-list").content.decode()
        assert "Refine" in html
        assert re.search(r">MiCA</a>\s*<span class=\"facet-count\">1</span>", html)

    def test_facet_selection_matches_a_lower_case_code(self, client, okx):  # noqa: F811
        response = get(client, "entity-list", "jurisdiction=sg")
        facet = next(facet for facet in response.context["facets"] if facet["param"] == "jurisdiction")
        assert [value["value"] for value in facet["values"] if value["selected"]] == ["SG"]


def make_records(count):
    """``count`` licences, audits, affiliates and regulators with every relation the lists show."""
    mt = factories.JurisdictionFactory(code="MT", name="Malta")
    eea = factories.AreaFactory(code="EEA", members=[mt])
    group = factories.GroupFactory()
    regime = factories.RegimeFactory(jurisdiction=mt)
    licence_type = factories.LicenseTypeFactory(regime=regime)
    regulator = factories.RegulatorFactory(jurisdiction=mt)
    regulator.regimes.set([regime])
    activity = factories.ActivityFactory()
    standard = factories.StandardFactory()
    auditor = factories.AuditorFactory()
    source = factories.SourceFactory()
    for _ in range(count):
        holder = factories.AffiliateFactory(parent=group, jurisdiction=mt)
        factories.EntityAliasFactory(entity=holder)
        licence = factories.LicenseFactory(
            holder=holder,
            license_type=licence_type,
            regulator=regulator,
            jurisdiction=mt,
            status=LicenseStatus.ACTIVE,
            citations=[source],
        )
        licence.passported_to.set([eea])
        licence.activities.set([activity])
        factories.AuditFactory(subject=holder, auditor=auditor, standard=standard, citations=[source])
        factories.RegulatorFactory(jurisdiction=mt).regimes.set([regime])


# Measured on a cold cache: count + the page's ids + its rows + prefetches + one query per facet, each keyed
# facet's labels, the choice fields' options, and the data-version read behind the page's ETag
# (registry/derived/version.py); for audits, the page's statuses and the reports superseding them (one query). None
# depends on the rows.
MAX_QUERIES = {"license-list": 14, "audit-list": 12, "entity-list": 11, "regulator-list": 8}
# The same page again at the same data version: the version read, the page's rows by id and their prefetches.
MAX_WARM_QUERIES = {"license-list": 3, "audit-list": 3, "entity-list": 3, "regulator-list": 3}
# A word that starts a word of every record make_records creates (search matches word prefixes).
SEARCH_WORD = {"license-list": "example", "audit-list": "example", "entity-list": "example", "regulator-list": "auth"}


@pytest.mark.parametrize("count", [3, 300])
@pytest.mark.parametrize("name", LISTS)
def test_list_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries, name, count):
    make_records(count)
    with django_assert_max_num_queries(MAX_QUERIES[name]):
        response = client.get(reverse(f"public:{name}"), {"q": SEARCH_WORD[name], "sort": "-jurisdiction"})
    assert response.status_code == 200
    # Every list holds at least ``count`` matching rows (entities add the group and the auditor).
    assert response.context["paginator"].count >= count
    assert len(response.context["object_list"]) == min(response.context["paginator"].count, 50)
    with django_assert_max_num_queries(MAX_WARM_QUERIES[name]):
        again = client.get(reverse(f"public:{name}"), {"q": SEARCH_WORD[name], "sort": "-jurisdiction"})
    assert again.content == response.content


# Committed writes, as in production: PostgreSQL raises the data version once per transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["license-list", "audit-list"])
def test_a_write_shows_at_once_although_counts_facets_and_pages_are_cached(client, name):
    """The list caches are keyed by the data version: the next request after any write recomputes them."""
    make_records(3)
    url = reverse(f"public:{name}")
    before = client.get(url)
    assert client.get(url).context["paginator"].count == before.context["paginator"].count
    if name == "license-list":
        added = factories.LicenseFactory(status=LicenseStatus.SUSPENDED)
    else:
        added = factories.AuditFactory(kind=AuditKind.ATTESTATION)
    after = client.get(url)
    assert after.context["paginator"].count == before.context["paginator"].count + 1
    assert added.slug in after.content.decode()
    facet = "status" if name == "license-list" else "kind"
    value = added.status if name == "license-list" else added.kind
    counts = {v["value"]: v["count"] for f in after.context["facets"] if f["param"] == facet for v in f["values"]}
    assert counts[value] == 1


def test_a_facet_shows_its_30_most_frequent_values_and_the_selected_one(client):
    jurisdictions = [factories.JurisdictionFactory() for _ in range(32)]
    for rank, jurisdiction in enumerate(jurisdictions):
        for _ in range(2 if rank < 30 else 1):
            factories.EntityFactory(jurisdiction=jurisdiction)

    def facet(response):
        return next(f for f in response.context["facets"] if f["param"] == "jurisdiction")

    shown = facet(client.get(reverse("public:entity-list")))
    assert len(shown["values"]) == 30
    assert shown["more"] == 2
    assert {v["value"] for v in shown["values"]} == {j.code for j in jurisdictions[:30]}
    assert "And 2 less frequent values" in client.get(reverse("public:entity-list")).content.decode()
    rare = jurisdictions[-1].code
    selected = facet(client.get(reverse("public:entity-list"), {"jurisdiction": rare}))
    assert [v["value"] for v in selected["values"] if v["selected"]] == [rare]


def test_licence_rows_read_by_values_are_the_rows_made_from_instances(client):
    """Live pages read their licence rows with values(); as-of pages make them from instances. Both must show
    the same thing, the API's representation of those fields, and a licence no longer public is left out even
    if a cached page still names it."""
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    germany = factories.JurisdictionFactory(code="DE", name="Germany")
    passported = factories.LicenseFactory(
        regulator=factories.RegulatorFactory(abbreviation=""),
        jurisdiction=malta,
        granted_on=datetime.date(2024, 5, 17),
        granted_on_precision=DatePrecision.DAY,
    )
    passported.passported_to.set([malta, germany])
    bare = factories.LicenseFactory(granted_on=None, granted_on_precision="", status=LicenseStatus.APPLIED)
    yearly = factories.LicenseFactory(
        regulator=factories.RegulatorFactory(abbreviation="FSA"),
        granted_on=datetime.date(2023, 1, 1),
        granted_on_precision=DatePrecision.YEAR,
        status=LicenseStatus.SUSPENDED,
    )
    draft = factories.DraftLicenseFactory()
    ids = [yearly.pk, draft.pk, passported.pk, bare.pk]
    view = LicenseListView()

    rows = view.page_rows(License.objects.published(), ids)

    instances = License.objects.in_bulk(ids)
    assert rows == view.snapshot_rows([instances[pk] for pk in (yearly.pk, passported.pk, bare.pk)])
    assert [(row.regulator and row.regulator["abbreviation"], row.granted, row.status_display) for row in rows] == [
        ("FSA", {"value": "2023", "precision": "year", "display": "2023"}, "Suspended"),
        ("", {"value": "2024-05-17", "precision": "day", "display": "17 May 2024"}, "Active"),
        (None, None, "Applied for"),
    ]
    assert rows[1].regulator["name"] == passported.regulator.name
    assert (rows[1].granted_in, rows[1].granted_in_stated) == ({"code": "MT", "name": "Malta"}, True)
    assert rows[1].passported_to == [{"code": "DE", "name": "Germany"}, {"code": "MT", "name": "Malta"}]
    regime_home = bare.license_type.regime.jurisdiction
    assert (rows[2].granted_in, rows[2].granted_in_stated) == (
        {"code": regime_home.code, "name": regime_home.name},
        False,
    )
    assert rows[2].passported_to == []
    # The API's links are absolute, the page's are site paths.
    records = json.loads(client.get("/api/licenses/").content.decode().replace("http://testserver/", "/"))
    api = {row["slug"]: row for row in records["results"]}
    for row in rows:
        assert row == {name: value for name, value in api[row.slug].items() if name in LICENSE_ROW().fields}
    assert rows[0].url == f"/licenses/{yearly.slug}/"


# ---------------------------------------------------------------------------
# Issue 13, point 6: every surface agrees which of the seed's two SOC 2 Type II reports is current
# ---------------------------------------------------------------------------

SOC2_2023, SOC2_2024 = "okx-soc-2-type-ii-2023-09", "okx-soc-2-type-ii-2024-07"


def _html_rows(client, query):
    response = client.get(f"/audits/?{query}")
    assert response.status_code == 200
    return {audit.slug: audit.status for audit in response.context["object_list"]}


def _api_rows(client, query):
    response = client.get(f"/api/audits/?{query}")
    assert response.status_code == 200
    return {row["slug"]: row["status"] for row in response.json()["results"]}


def _csv_rows(client, query):
    response = client.get(f"/audits.csv?{query}")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return {row["slug"]: row["status"] for row in csv.DictReader(io.StringIO(text))}


def _json_rows(client, query):
    response = client.get(f"/audits.json?{query}")
    assert response.status_code == 200
    return {row["slug"]: row["status"] for row in response.json()["results"]}


SURFACES = [_html_rows, _api_rows, _csv_rows, _json_rows]


@pytest.mark.parametrize("as_of", [False, True], ids=["today", "as_of_today"])
@pytest.mark.parametrize("rows", SURFACES, ids=["html", "api", "csv", "json"])
def test_a_superseded_report_is_not_valid_today_on_any_surface(client, seed_data, rows, as_of):
    today = timezone.localdate().isoformat()
    prefix = f"as_of={today}&" if as_of else ""
    soc2 = "standard=soc-2-type-ii"
    assert rows(client, f"{prefix}{soc2}") == {SOC2_2023: "superseded", SOC2_2024: "current"}
    assert rows(client, f"{prefix}{soc2}&valid_on={today}") == {SOC2_2024: "current"}
    # On 1 January 2024 the 2023 report was current and the 2024 one not yet issued.
    assert rows(client, f"{prefix}{soc2}&valid_on=2024-01-01") == {SOC2_2023: "superseded"}


def test_the_list_links_a_superseded_report_to_the_later_one(client, seed_data):
    html = client.get("/audits/?standard=soc-2-type-ii").content.decode()
    assert re.search(rf'Superseded by <a href="/audits/{SOC2_2024}/">[^<]*<time datetime="2024-07">July 2024', html)


def test_currently_certified_to_counts_only_current_reports(client, seed_data):
    """OKX, whose 2023 report was superseded, is certified by its 2024 one; a firm whose only later report
    expired is certified by neither."""
    lapsed = factories.EntityFactory(slug="lapsed")
    standard = models.Standard.objects.get(slug="soc-2-type-ii")
    factories.AuditFactory(subject=lapsed, standard=standard, issued_on=datetime.date(2023, 1, 1))
    factories.AuditFactory(
        subject=lapsed,
        standard=standard,
        issued_on=datetime.date(2024, 1, 1),
        valid_until=datetime.date(2025, 1, 1),
        valid_until_precision=DatePrecision.DAY,
    )
    response = client.get("/entities/?standard=soc-2-type-ii")
    assert [entity.slug for entity in response.context["object_list"]] == ["okx"]
    api = client.get("/api/entities/?standard=soc-2-type-ii").json()
    assert [row["slug"] for row in api["results"]] == ["okx"]


@pytest.mark.parametrize("name", [*LISTS, "change-list"])
def test_filters_fold_behind_one_control_that_counts_the_active_ones(client, name):
    html = get(client, name).content.decode()
    side = html[html.index('<details class="list-side"') :]
    side = side[: side.index("</details>")]
    assert "<summary>Filters</summary>" in side
    assert '<form method="get" class="list-filters"' in side
    # The results follow the one-line control, ahead of nothing else on a phone.
    assert html.index('<details class="list-side"') < html.index('<div class="list-main">')
    query = "q=okx&sort=-granted_on" if name == "license-list" else "q=okx"
    if name == "change-list":
        query = "type=entity&since=2025"
    html = get(client, name, query).content.decode()
    active = 2 if name == "change-list" else 1  # the sort order is not a filter
    assert f"<summary>Filters ({active} active)</summary>" in html


def test_filters_stand_open_when_one_is_not_understood(client):
    html = get(client, "license-list", "granted_after=soon").content.decode()
    assert '<details class="list-side" id="filters" open>' in html


def test_a_long_passport_list_is_folded_behind_its_count(client):
    countries = [factories.JurisdictionFactory() for _ in range(29)]
    factories.LicenseFactory(holder__name="Passporting Firm").passported_to.set(countries)
    germany = factories.JurisdictionFactory(code="DE", name="Germany")
    factories.LicenseFactory(holder__name="Local Firm").passported_to.set([germany])
    html = get(client, "license-list").content.decode()
    assert '<details class="passport"><summary>passported to 29 countries</summary>' in html
    assert html.count("<abbr title=") >= 29 + 1
    assert '<span class="passport">passported to <abbr title="Germany">DE</abbr></span>' in html


def test_the_filter_forms_selects_are_djangos_markup(okx):  # noqa: F811
    """The filter forms render their selects through one template (public/filters.py, FilterFormRenderer), whose
    markup must stay Django's own: every option, the selected one marked."""
    from django import forms
    from django.http import QueryDict

    from public import filters
    from registry.models import License

    data = QueryDict("regime=mica&status=active&sort=-holder")
    ours = filters.LicenseFilterSet(data, queryset=License.objects.published()).form
    django = filters.LicenseFilterSet(data, queryset=License.objects.published()).form
    django.renderer = forms.renderers.DjangoTemplates()
    for field in django.fields.values():
        if isinstance(field.widget, forms.Select):
            field.widget.template_name = forms.Select.template_name
    selects = [name for name, field in ours.fields.items() if isinstance(field.widget, forms.Select)]
    assert {"regime", "license_type", "regulator", "status", "sort"} <= set(selects)
    for name in selects:
        assert str(ours[name]) == str(django[name])
    assert '<option value="mica" selected>' in str(ours["regime"])


# Committed writes, as in production: PostgreSQL raises the data version once per transaction.
@pytest.mark.django_db(transaction=True)
def test_a_cached_filter_field_follows_its_value_and_its_choices(client):
    """Each filter field's markup is cached (list_filters.html): choosing a value, or publishing a new choice,
    shows at once."""
    first = factories.RegimeFactory(slug="first-regime", short_name="First")
    factories.LicenseFactory(license_type__regime=first)
    url = reverse("public:license-list")
    assert '<option value="first-regime" selected>' not in client.get(url).content.decode()
    assert '<option value="first-regime" selected>' in client.get(url, {"regime": "first-regime"}).content.decode()
    factories.RegimeFactory(slug="second-regime", short_name="Second")
    for query in ({}, {"regime": "first-regime"}):
        html = client.get(url, query).content.decode()
        assert '<option value="second-regime">' in html


def test_every_value_of_a_facets_own_filter_shows_the_same_counts_each_equal_to_its_list(client):
    """A facet's counts do not depend on its own filter's value (they are kept once for all of them), and each
    count equals the rows of the list its link opens."""
    for code, name, count in (("MT", "Malta", 2), ("SG", "Singapore", 1)):
        factories.LicenseFactory.create_batch(count, jurisdiction=factories.JurisdictionFactory(code=code, name=name))
    url = reverse("public:license-list")

    def granted_in_facet(query):
        response = client.get(url, query)
        (facet,) = [facet for facet in response.context["facets"] if facet["param"] == "granted_in"]
        return {value["value"]: value["count"] for value in facet["values"]}

    shown = granted_in_facet({"granted_in": "MT"})
    assert shown == granted_in_facet({"granted_in": "SG"}) == granted_in_facet({}) == {"MT": 2, "SG": 1}
    for code, count in shown.items():
        assert client.get(url, {"granted_in": code}).context["paginator"].count == count


@pytest.mark.django_db(transaction=True)  # PostgreSQL raises the version once per transaction
def test_a_repeat_visit_to_an_audit_list_reads_no_row_and_a_newer_certificate_shows_at_once(client):
    """The page's rows and their statuses are kept per data version (issue 18): a repeat visit reads none, and a
    newer report of the same standard supersedes the older one on the next visit."""
    auditor = factories.AuditorFactory(slug="repeat-auditor")
    older = factories.AuditFactory(auditor=auditor, issued_on=datetime.date(2024, 5, 1))
    url = "/audits/?auditor=repeat-auditor"
    first = client.get(url)
    assert [audit.status for audit in first.context["object_list"]] == ["current"]
    with CaptureQueriesContext(connection) as repeat:
        assert client.get(url).content == first.content
    assert len(repeat) <= 2  # the data version and the auditor the filter names
    factories.AuditFactory(
        subject=older.subject, standard=older.standard, auditor=auditor, issued_on=datetime.date(2025, 5, 1)
    )
    statuses = {audit.pk: audit.status for audit in client.get(url).context["object_list"]}
    assert statuses[older.pk] == "superseded"


@pytest.mark.parametrize("query", ["jurisdiction=SG", "jurisdiction=SG&kind=company"])
def test_an_entity_list_by_jurisdiction_reads_an_index_not_every_published_entity(query):
    """Issue 18: the count, the first page and the kind facet of ``/entities/?jurisdiction=SG`` find the entities
    of Singapore by an index on their jurisdiction; reading every published entity cost 12 ms a query at
    N = 20,000 (SQLite, which plans without statistics)."""
    from django.db import connection
    from django.db.models import Count
    from django.http import QueryDict

    from public.filters import EntityFilterSet
    from public.views import entity_list_queryset

    singapore = factories.JurisdictionFactory(code="SG", name="Singapore")
    factories.EntityFactory.create_batch(3, jurisdiction=singapore, kind="company")
    elsewhere = factories.JurisdictionFactory(code="MT", name="Malta")
    models.Entity.objects.bulk_create(factories.EntityFactory.build_batch(300, jurisdiction=elsewhere))
    filterset = EntityFilterSet(QueryDict(query), queryset=entity_list_queryset())
    queries = [
        filterset.qs.order_by().values("pk"),
        filterset.qs.values("pk")[:50],
        filterset.filtered_without("kind").order_by().values("kind").annotate(entities=Count("pk")),
    ]
    # PostgreSQL plans by its statistics, which choose differently on a few hundred rows than on a register.
    if connection.vendor == "sqlite":
        for queryset in queries:
            assert "registry_entity_published_place_idx" in queryset.explain()
    assert filterset.qs.count() == 3


def test_audit_list_status_counts_and_links_agree_with_the_rows_for_each_auditor_and_kind(client):
    """Issue 18: the status facet and the supersession links are read with SQL compiled once per set of filters
    (registry.prepared) and run with each request's values: each auditor's and kind's counts are its own rows',
    and a report names only the later report of its own subject and standard."""
    firm, other = factories.AuditorFactory(slug="firm-a"), factories.AuditorFactory(slug="firm-b")
    iso, soc = factories.StandardFactory(slug="iso"), factories.StandardFactory(slug="soc")
    first, second = factories.EntityFactory(), factories.EntityFactory()
    may, june = datetime.date(2025, 5, 1), datetime.date(2025, 6, 1)
    older = factories.AuditFactory(subject=first, standard=iso, auditor=firm, issued_on=may)
    factories.AuditFactory(subject=first, standard=iso, auditor=firm, issued_on=june)
    factories.AuditFactory(subject=first, standard=soc, auditor=other, issued_on=may)  # not firm-a's
    lone = factories.AuditFactory(subject=second, standard=soc, auditor=firm, issued_on=june)
    factories.AuditFactory(subject=second, standard=iso, auditor=other, kind=AuditKind.ATTESTATION)
    factories.AuditFactory(
        subject=second,
        standard=iso,
        auditor=other,
        valid_until=datetime.date(2025, 7, 1),
        valid_until_precision=DatePrecision.DAY,
    )
    for query in ["auditor=firm-a", "auditor=firm-b", "auditor=firm-b&kind=attestation", "kind=certification"]:
        response = get(client, "audit-list", query)
        rows = response.context["object_list"]
        (status,) = [facet for facet in response.context["facets"] if facet["param"] == "status"]
        expected = {}
        for audit in rows:
            expected[audit.status] = expected.get(audit.status, 0) + 1
        assert {value["value"]: value["count"] for value in status["values"]} == expected, query
    rows = {audit.pk: audit for audit in get(client, "audit-list", "auditor=firm-a").context["object_list"]}
    assert rows[older.pk].status == "superseded"
    assert rows[older.pk].superseded_by_audit.issued_on == june
    assert rows[lone.pk].status == "current"
    assert rows[lone.pk].supersedes_audits == []
