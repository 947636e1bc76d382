"""The list FilterSets: what each filter selects, used directly on published querysets."""

import datetime
from functools import partial

import pytest
from django.core.cache import cache
from django.http import QueryDict
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.html import parse_html

from public import filters
from registry.dates import DatePrecision
from registry.models import Audit, EntityKind, License, LicenseStatus, Regulator
from tests import factories
from tests.filtering import selected

pytestmark = pytest.mark.django_db


licences = partial(selected, "licences")
audits = partial(selected, "audits")
entities = partial(selected, "entities")
regulators = partial(selected, "regulators")


@pytest.fixture
def world():
    """Malta in the EEA; Dubai a subdivision of the UAE; Singapore alone."""
    mt = factories.JurisdictionFactory(code="MT", name="Malta")
    de = factories.JurisdictionFactory(code="DE", name="Germany")
    eea = factories.AreaFactory(code="EEA", name="European Economic Area", members=[mt, de])
    eu = factories.AreaFactory(code="EU", name="European Union", members=[mt, de])
    ae = factories.JurisdictionFactory(code="AE", name="United Arab Emirates")
    dubai = factories.SubdivisionFactory(code="AE-DU", name="Dubai", parent=ae)
    sg = factories.JurisdictionFactory(code="SG", name="Singapore")
    return {"MT": mt, "DE": de, "EEA": eea, "EU": eu, "AE": ae, "AE-DU": dubai, "SG": sg}


@pytest.fixture
def okx(world):
    """A small OKX-like register: a group with two affiliates and four licences."""
    group = factories.GroupFactory(slug="okx", name="OKX")
    middle_east = factories.AffiliateFactory(slug="okx-middle-east", name="OKX Middle East", parent=group)
    okx_sg = factories.AffiliateFactory(slug="okx-sg", name="OKX SG", parent=group, jurisdiction=world["SG"])
    mica = factories.RegimeFactory(slug="mica", short_name="MiCA", jurisdiction=world["EU"])
    dubai_va = factories.RegimeFactory(slug="dubai-va", short_name="Dubai VA", jurisdiction=world["AE-DU"])
    psa = factories.RegimeFactory(slug="sg-psa-2019", short_name="PS Act", jurisdiction=world["SG"])
    vara = factories.RegulatorFactory(
        slug="vara", name="Virtual Assets Regulatory Authority", jurisdiction=world["AE-DU"]
    )
    mas = factories.RegulatorFactory(slug="mas", name="Monetary Authority of Singapore", jurisdiction=world["SG"])
    vara.regimes.set([dubai_va])
    mas.regimes.set([psa])
    custody = factories.ActivityFactory(slug="custody", name="Custody")
    mica_licence = factories.LicenseFactory(
        slug="okx-mica-casp",
        holder=group,
        license_type=factories.LicenseTypeFactory(regime=mica, slug="casp", name="CASP authorisation"),
        jurisdiction=world["MT"],
        granted_on=datetime.date(2025, 2, 1),
        granted_on_precision=DatePrecision.MONTH,
        serves_retail=True,
        reference_number="MFSA-CASP-001",
    )
    mica_licence.passported_to.set([world["EEA"]])
    mica_licence.activities.set([custody])
    factories.LicenseFactory(
        slug="okx-middle-east-vara-vasp",
        holder=middle_east,
        license_type=factories.LicenseTypeFactory(regime=dubai_va, slug="vasp", name="VASP licence"),
        regulator=vara,
        jurisdiction=None,
        granted_on=datetime.date(2024, 1, 16),
        granted_on_precision=DatePrecision.DAY,
        serves_institutional=True,
    )
    factories.LicenseFactory(
        slug="okx-sg-mpi",
        holder=okx_sg,
        license_type=factories.LicenseTypeFactory(regime=psa, slug="mpi", name="Major Payment Institution"),
        regulator=mas,
        jurisdiction=world["SG"],
        granted_on=datetime.date(2024, 9, 2),
        granted_on_precision=DatePrecision.DAY,
        status=LicenseStatus.SUSPENDED,
        serves_professional=True,
    )
    return {"group": group, "middle_east": middle_east, "sg": okx_sg, "mica": mica, "vara": vara, "mas": mas}


class TestLicenseFilters:
    def test_usable_in_matches_home_and_passport_through_an_area(self, okx, world):
        assert licences("usable_in=MT") == {"okx-mica-casp"}
        # Germany: only through the EEA passport and the EU regime.
        assert licences("usable_in=DE") == {"okx-mica-casp"}

    def test_usable_in_code_is_case_insensitive(self, okx):
        assert licences("usable_in=mt") == {"okx-mica-casp"}

    def test_country_matches_licences_in_its_subdivisions(self, okx):
        assert licences("usable_in=AE") == {"okx-middle-east-vara-vasp"}
        assert licences("usable_in=AE-DU") == {"okx-middle-east-vara-vasp"}

    def test_granted_in_ignores_passports(self, okx):
        assert licences("granted_in=MT") == {"okx-mica-casp"}
        assert licences("granted_in=DE") == set()
        # No home jurisdiction recorded: the regime's (Dubai) stands in for it.
        assert licences("granted_in=AE") == {"okx-middle-east-vara-vasp"}

    def test_regime_type_regulator_status_activity_clients(self, okx):
        assert licences("regime=mica") == {"okx-mica-casp"}
        assert licences("license_type=mpi") == {"okx-sg-mpi"}
        assert licences("regulator=vara") == {"okx-middle-east-vara-vasp"}
        assert licences("status=suspended") == {"okx-sg-mpi"}
        assert licences("activity=custody") == {"okx-mica-casp"}
        assert licences("clients=retail") == {"okx-mica-casp"}
        assert licences("clients=institutional") == {"okx-middle-east-vara-vasp"}

    def test_holder_group_includes_affiliates(self, okx):
        assert licences("holder=okx") == {"okx-mica-casp", "okx-middle-east-vara-vasp", "okx-sg-mpi"}
        assert licences("holder=okx-sg") == {"okx-sg-mpi"}

    def test_granted_between_dates_with_partial_bounds(self, okx):
        assert licences("granted_after=2024-06-01") == {"okx-mica-casp", "okx-sg-mpi"}
        assert licences("granted_before=2024-01-16") == {"okx-middle-east-vara-vasp"}
        # A month as the upper bound reaches its last day.
        assert licences("granted_after=2024&granted_before=2024-09") == {"okx-middle-east-vara-vasp", "okx-sg-mpi"}

    def test_in_force_on_date(self, okx):
        assert licences("in_force_on=2024-06-01") == {"okx-middle-east-vara-vasp"}
        assert licences("in_force_on=2025-06-01") == {"okx-mica-casp", "okx-middle-east-vara-vasp"}

    def test_search_names_aliases_references_regimes(self, okx):
        factories.EntityAliasFactory(entity=okx["sg"], name="Okcoin Singapore")
        assert licences("q=okcoin") == {"okx-sg-mpi"}
        assert licences("q=MFSA-CASP") == {"okx-mica-casp"}
        assert licences("q=mica") == {"okx-mica-casp"}
        assert licences("q=middle east") == {"okx-middle-east-vara-vasp"}

    def test_sort_by_granted_both_ways(self, okx):
        filterset = filters.LicenseFilterSet(QueryDict("sort=granted_on"), queryset=License.objects.published())
        assert [licence.slug for licence in filterset.qs] == [
            "okx-middle-east-vara-vasp",
            "okx-sg-mpi",
            "okx-mica-casp",
        ]
        filterset = filters.LicenseFilterSet(QueryDict("sort=-granted_on"), queryset=License.objects.published())
        assert [licence.slug for licence in filterset.qs][0] == "okx-mica-casp"

    def test_draft_regime_slug_is_an_unknown_choice(self, okx):
        factories.DraftRegimeFactory(slug="secret-regime")
        filterset = filters.LicenseFilterSet(QueryDict("regime=secret-regime"), queryset=License.objects.published())
        assert "regime" in filterset.errors


class TestFacets:
    def test_facet_counts_exclude_their_own_filter(self, okx):
        filterset = filters.LicenseFilterSet(QueryDict("status=active"), queryset=License.objects.published())
        status = next(facet for facet in filterset.facets if facet.param == "status")
        rows = status.rows(filterset.filtered_without("status"))
        assert rows == [("active", "Active", 2), ("suspended", "Suspended", 1)]

    def test_facet_counts_respect_other_filters(self, okx):
        filterset = filters.LicenseFilterSet(QueryDict("holder=okx-sg"), queryset=License.objects.published())
        regime = next(facet for facet in filterset.facets if facet.param == "regime")
        assert regime.rows(filterset.filtered_without("regime")) == [("sg-psa-2019", "PS Act", 1)]

    def test_jurisdiction_facet_rolls_subdivisions_up_to_the_country(self, okx):
        filterset = filters.LicenseFilterSet(QueryDict(""), queryset=License.objects.published())
        facet = next(facet for facet in filterset.facets if facet.param == "granted_in")
        rows = facet.rows(filterset.filtered_without("granted_in"))
        assert ("AE", "United Arab Emirates", 1) in rows
        assert ("MT", "Malta", 1) in rows

    @pytest.mark.parametrize("query", ["", "granted_in=AE", "status=active", "regime=dubai-va&granted_in=AE"])
    def test_a_list_counted_with_its_keyed_facets_gives_each_as_counted_alone(self, okx, query):
        """Issue 18: the list's count and the keyed facets whose own filter is not set, from one GROUP BY, are
        the count of its rows and each facet's rows as the facet counts them alone."""
        filterset = filters.LicenseFilterSet(QueryDict(query), queryset=License.objects.published())
        unset = [facet for facet in filterset.facets if facet.param not in QueryDict(query)]
        count, rows = filters.counted_with_rows(unset, filterset.qs)
        assert count == filterset.qs.count() > 0
        assert rows == {
            facet.param: facet.rows(filterset.filtered_without(facet.param), keyed=False) for facet in unset
        }

    def test_granted_in_lists_a_licence_with_no_stated_place_where_its_regime_is(self, okx):
        """A licence whose source names no place is granted where its regime is (Dubai's VARA: the UAE)."""
        assert licences("granted_in=AE") == {"okx-middle-east-vara-vasp"}
        mica = License.objects.get(slug="okx-mica-casp").license_type
        factories.LicenseFactory(slug="unstated-mica", jurisdiction=None, license_type=mica)
        assert licences("granted_in=EU") == {"unstated-mica"}
        assert licences("granted_in=MT") == {"okx-mica-casp"}

    def test_many_to_many_facet_counts_published_regimes_only(self, okx):
        okx["vara"].regimes.add(factories.DraftRegimeFactory(slug="hidden"))
        filterset = filters.RegulatorFilterSet(QueryDict(""), queryset=Regulator.objects.published())
        facet = next(facet for facet in filterset.facets if facet.param == "regime")
        values = {value for value, _label, _count in facet.rows(filterset.filtered_without("regime"))}
        assert values == {"dubai-va", "sg-psa-2019"}


class TestAuditFilters:
    @pytest.fixture
    def audit_set(self, okx):
        iso = factories.StandardFactory(slug="iso-27001", name="ISO 27001")
        soc = factories.StandardFactory(slug="soc-2", name="SOC 2")
        slowmist = factories.AuditorFactory(slug="slowmist", name="SlowMist")
        factories.AuditFactory(
            slug="iso",
            subject=okx["group"],
            standard=iso,
            issued_on=datetime.date(2025, 5, 1),
            valid_until=datetime.date(2028, 5, 1),
            valid_until_precision=DatePrecision.DAY,
        )
        factories.AuditFactory(
            slug="soc",
            subject=okx["sg"],
            standard=soc,
            kind="attestation",
            issued_on=datetime.date(2023, 9, 1),
            valid_until=datetime.date(2024, 9, 1),
            valid_until_precision=DatePrecision.DAY,
            scope="Custody systems",
        )
        factories.OngoingAuditFactory(slug="slowmist-audits", subject=okx["group"], auditor=slowmist)
        factories.DraftAuditFactory(slug="draft-audit", subject=okx["group"], standard=iso)

    def test_kind_standard_auditor(self, audit_set):
        assert audits("kind=attestation") == {"soc"}
        assert audits("standard=iso-27001") == {"iso"}
        assert audits("auditor=slowmist") == {"slowmist-audits"}

    def test_subject_group_includes_affiliates(self, audit_set):
        assert audits("subject=okx") == {"iso", "soc", "slowmist-audits"}
        assert audits("subject=okx-sg") == {"soc"}

    def test_issued_between(self, audit_set):
        assert audits("issued_after=2024&issued_before=2025-12-31") == {"iso"}
        assert audits("issued_before=2023-09") == {"soc"}

    def test_valid_on_and_ongoing(self, audit_set):
        assert audits("valid_on=2024-01-01") == {"soc", "slowmist-audits"}
        assert audits("valid_on=2026-01-01") == {"iso", "slowmist-audits"}
        assert audits("ongoing=true") == {"slowmist-audits"}
        assert audits("ongoing=false") == {"iso", "soc"}

    def test_search_scope(self, audit_set):
        assert audits("q=custody") == {"soc"}
        assert audits("q=slowmist") == {"slowmist-audits"}


class TestEntityFilters:
    def test_jurisdiction_group_kind(self, okx, world):
        factories.EntityFactory(slug="dubai-co", jurisdiction=world["AE-DU"])
        assert entities("jurisdiction=SG") == {"okx-sg"}
        assert entities("jurisdiction=AE") == {"dubai-co"}
        assert entities("group=okx") == {"okx-middle-east", "okx-sg"}
        assert entities("kind=group") == {"okx"}

    def test_holds_licence_under_regime_counts_published_licences_only(self, okx):
        factories.DraftLicenseFactory(holder=okx["sg"], license_type__regime=okx["mica"])
        assert entities("regime=mica") == {"okx"}

    def test_current_certification_to_standard(self, okx):
        iso = factories.StandardFactory(slug="iso-27001", name="ISO 27001")
        factories.AuditFactory(subject=okx["group"], standard=iso, issued_on=datetime.date(2025, 5, 1))
        expired = factories.AuditFactory(
            subject=okx["sg"],
            standard=iso,
            issued_on=datetime.date(2020, 1, 1),
            valid_until=datetime.date(2021, 1, 1),
            valid_until_precision=DatePrecision.DAY,
        )
        assert expired.subject.slug == "okx-sg"
        assert entities("standard=iso-27001") == {"okx"}

    def test_search_aliases(self, okx):
        factories.EntityAliasFactory(entity=okx["middle_east"], name="OKX ME Trading")
        assert entities("q=ME Trading") == {"okx-middle-east"}

    def test_drafts_never_match(self, okx):
        factories.DraftEntityFactory(slug="draft-okx", name="OKX Draft", kind=EntityKind.GROUP)
        assert "draft-okx" not in entities("q=okx")


class TestRegulatorFilters:
    def test_jurisdiction_includes_subdivisions_and_regime(self, okx):
        assert regulators("jurisdiction=AE") == {"vara"}
        assert regulators("regime=sg-psa-2019") == {"mas"}
        assert regulators("q=monetary") == {"mas"}


class TestBadInput:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("status=bogus", "status"),
            ("granted_after=2025-13-45", "granted_after"),
            ("in_force_on=yesterday", "in_force_on"),
            ("usable_in=ZZZ", "usable_in"),
            ("regime=no-such-regime", "regime"),
            ("sort=secret_field", "sort"),
            ("q=" + "x" * 10_000, "q"),
            ("holder=okx%00", "holder"),
            ("usable_in=M%00T", "usable_in"),
        ],
    )
    def test_bad_value_is_a_field_error_and_other_filters_still_apply(self, okx, query, field):
        filterset = filters.LicenseFilterSet(
            QueryDict(f"{query}&regime=mica" if field != "regime" else query), queryset=License.objects.published()
        )
        assert list(filterset.errors) == [field]
        slugs = set(filterset.qs.values_list("slug", flat=True))
        assert slugs == (
            {"okx-mica-casp"} if field != "regime" else set(License.objects.values_list("slug", flat=True))
        )


# --- Filter form markup -------------------------------------------------------------------------------------


@pytest.fixture
def awkward_names():
    """Choice labels and values that need escaping, in every select a list offers."""
    regime = factories.RegimeFactory(short_name='MiCA "Title V" <CASP> & co')
    factories.LicenseTypeFactory(regime=regime, name="Crypto-asset service provider's licence")
    factories.RegulatorFactory(name="Autorité des marchés financiers", abbreviation="AMF <FR>")
    factories.StandardFactory()
    return regime


FORM_QUERIES = [
    "",
    "q=<b>okx</b>&status=active&granted_after=2024-03&kind=group&sort=-granted_on",
    'q="quoted" & more&status=bogus&granted_after=nonsense&regime=missing&jurisdiction=<XX>&as_of=tomorrow',
]


def rendered_filters(filterset_class, query):
    """The filter form of a list at ``?query`` as list_filters.html writes it (its fields cached), parsed."""
    request = RequestFactory().get("/list/", QueryDict(query))
    filterset = filterset_class(request.GET, queryset=filterset_class._meta.model.objects.all())
    context = {"filter": filterset, "heading": "Records"}
    return parse_html(render_to_string("public/includes/list_filters.html", context, request=request))


@pytest.mark.parametrize(
    "filterset_class",
    [filters.LicenseFilterSet, filters.AuditFilterSet, filters.EntityFilterSet, filters.RegulatorFilterSet],
)
@pytest.mark.parametrize("query", FORM_QUERIES)
def test_filter_forms_write_the_markup_djangos_templates_write(awkward_names, filterset_class, query):
    """Each field's markup is cached; what the visitor gets must not change with what was cached before: the
    same elements, labels, escaping, attributes, selected option and errors as a render from nothing."""
    cache.clear()
    fresh = rendered_filters(filterset_class, query)
    for other in FORM_QUERIES:
        cache.clear()
        rendered_filters(filterset_class, other)
        assert rendered_filters(filterset_class, query) == fresh, other


# Committed writes, as in production: PostgreSQL raises the data version once per transaction.
@pytest.mark.django_db(transaction=True)
def test_a_renamed_choice_shows_in_the_filter_form_at_once(awkward_names):
    """A select's cached markup follows its choices: a curator's rename is in the next page's form."""
    before = str(rendered_filters(filters.LicenseFilterSet, ""))
    awkward_names.short_name = "MiCA renamed"
    awkward_names.save()
    after = str(rendered_filters(filters.LicenseFilterSet, ""))
    assert "MiCA renamed" in after
    assert "MiCA renamed" not in before


def test_a_select_marks_the_selected_option_once_and_escapes_labels(awkward_names):
    form = filters.LicenseFilterSet(QueryDict(f"regime={awkward_names.slug}"), queryset=License.objects.all()).form
    html = str(form["regime"])
    assert html.count(" selected>") == 1
    label = "MiCA &quot;Title V&quot; &lt;CASP&gt; &amp; co"
    assert f'<option value="{awkward_names.slug}" selected>{label}</option>' in html


# ---------------------------------------------------------------------------
# Certifications and proof of reserves (issue 17)
# ---------------------------------------------------------------------------


@pytest.fixture
def assurance_register():
    """A current, a suspended, a withdrawn and a superseded certificate; a security audit with findings and a
    scope; proof-of-reserves verifications with a ratio under 100 %, at 100 % or more, and with no figures."""
    iso = factories.StandardFactory(slug="iso-27001")
    okx = factories.EntityFactory(slug="okx")
    body = factories.AuditorFactory(slug="cert-body")
    factories.AccreditationFactory(holder=body, standard=iso)
    factories.AuditFactory(slug="current", subject=okx, standard=iso, auditor=body)
    suspended = factories.AuditFactory(slug="suspended", standard=iso)
    factories.AuditStatusChangeFactory(audit=suspended)
    withdrawn = factories.AuditFactory(slug="withdrawn", standard=iso)
    factories.AuditStatusChangeFactory(audit=withdrawn, status="withdrawn")
    old = factories.AuditFactory(slug="superseded", standard=iso, issued_on=datetime.date(2024, 5, 1))
    factories.AuditFactory(slug="newer", subject=old.subject, standard=iso, auditor=factories.AuditorFactory())
    security = factories.OngoingAuditFactory(slug="security")
    factories.AuditScopeItemFactory(audit=security, name="wallet modules")
    factories.AuditFindingFactory(audit=security, severity="critical", count=1, resolved=1)
    under = factories.ProofOfReservesAuditFactory(slug="por-under")
    factories.ReserveSnapshotFactory(audit=under, as_of=datetime.date(2025, 1, 1))
    factories.ReserveSnapshotFactory(audit=under, as_of=datetime.date(2025, 2, 1), assets=9_000, reserve_ratio=90)
    recovered = factories.ProofOfReservesAuditFactory(slug="por-recovered")
    factories.ReserveSnapshotFactory(audit=recovered, as_of=datetime.date(2025, 1, 1), assets=9_000, reserve_ratio=90)
    factories.ReserveSnapshotFactory(audit=recovered, as_of=datetime.date(2025, 2, 1))
    factories.ProofOfReservesAuditFactory(slug="por-empty")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=current", {"current", "newer", "security", "por-under", "por-recovered", "por-empty"}),
        ("status=suspended", {"suspended"}),
        ("status=withdrawn", {"withdrawn"}),
        ("status=superseded", {"superseded"}),
        ("accredited=true", {"current"}),
        ("scope_item=WALLET", {"security"}),
        ("findings=critical", {"security"}),
        ("findings=high", set()),
        ("reserves=under_100", {"por-under"}),
        ("reserves=published", {"por-under", "por-recovered"}),
        ("reserves=none", {"por-empty"}),
    ],
)
def test_the_audit_lists_assurance_filters(assurance_register, query, expected):
    assert audits(query) == expected


def test_the_status_filter_and_facet_follow_the_one_status_rule(assurance_register):
    rule = dict(Audit.objects.published().with_status().values_list("slug", "status"))
    for status in {*rule.values()}:
        assert audits(f"status={status}") == {slug for slug, value in rule.items() if value == status}
    filterset = filters.AuditFilterSet(QueryDict("kind=certification"), queryset=Audit.objects.published())
    (facet,) = [facet for facet in filterset.facets if facet.param == "status"]
    counted = {value: count for value, _, count in facet.rows(filterset.filtered_without("status"), keyed=False)}
    certificates = [status for slug, status in rule.items() if not slug.startswith(("security", "por-"))]
    assert counted == {status: certificates.count(status) for status in set(certificates)}


def test_an_unknown_status_is_a_message_not_an_error(assurance_register):
    filterset = filters.AuditFilterSet(QueryDict("status=valid"), queryset=Audit.objects.published())
    assert not filterset.is_valid()
    assert "status" in filterset.errors


def test_currently_certified_to_uses_the_one_status_rule(assurance_register):
    """Not the subjects of a suspended, withdrawn or superseded certificate: those of a current one."""
    subjects = Audit.objects.filter(slug__in=["current", "newer"]).values_list("subject__slug", flat=True)
    assert entities("standard=iso-27001") == set(subjects)
