"""The audit page's chain of who vouches and status history; an entity's reserves over time (public/assurance.py)."""

import datetime

import pytest

from public import assurance, views
from registry import models
from registry.prepared import id_list
from tests import factories

pytestmark = pytest.mark.django_db
D = datetime.date


def parts_of(audit):
    """What the audit page shows of ``audit``, as its view builds it."""
    audit = models.Audit.objects.select_related("standard", "auditor").get(pk=audit.pk)
    models.link_supersession([audit])
    facts, general = views.facts_by_field(audit.citations.select_related("source"), models.AuditFact)
    return assurance.audit_assurance(audit, facts, general)


@pytest.fixture
def ukas():
    article = factories.SourceFactory(title="UKAS annual report")
    return factories.AccreditationBodyFactory(
        slug="ukas",
        name="United Kingdom Accreditation Service",
        abbreviation="UKAS",
        iaf_mla_signatory=True,
        iaf_mla_source=article,
        iaf_mla_quote="UKAS is a signatory of the IAF MLA.",
    )


def test_the_chain_runs_from_the_standard_to_the_accreditation_body_each_cited(ukas):
    iso = factories.StandardFactory(name="ISO/IEC 27001", issuer="ISO/IEC")
    body = factories.AuditorFactory(name="Cert Body Ltd")
    audit = factories.AuditFactory(standard=iso, auditor=body)
    factories.AccreditationFactory(holder=body, body=ukas, standard=iso, reference="1234", quote="Accredited by UKAS.")
    # Not the audit's standard, and a source not published: neither vouches for this certificate.
    factories.AccreditationFactory(holder=body, body=ukas, standard=factories.StandardFactory(), reference="99")
    factories.AccreditationFactory(holder=body, reference="draft", standard=None, source=factories.DraftSourceFactory())

    standard, certifier, accreditation = parts_of(audit)["chain"]
    assert (standard.role, standard.name) == ("Standard", "ISO/IEC 27001")
    assert (certifier.role, certifier.name, certifier.url) == (
        "Certification body",
        "Cert Body Ltd",
        body.get_absolute_url(),
    )
    assert (accreditation.role, accreditation.name) == (
        "Accreditation body",
        "United Kingdom Accreditation Service (UKAS)",
    )
    assert "Accreditation number 1234" in accreditation.details
    assert "UKAS is a signatory of the IAF MLA" in accreditation.details
    for link in (standard, certifier, accreditation):
        assert link.citations and not link.missing
    assert [c.quote for c in accreditation.citations] == ["Accredited by UKAS.", "UKAS is a signatory of the IAF MLA."]


def test_iaf_mla_membership_no_source_states_is_said_to_be_unstated():
    audit = factories.AuditFactory(auditor=factories.AuditorFactory())
    factories.AccreditationFactory(holder=audit.auditor, standard=audit.standard)
    (*_, accreditation) = parts_of(audit)["chain"]
    assert "IAF MLA membership: not stated by the sources" in accreditation.details


def test_a_soc_2_auditor_is_vouched_for_by_its_cpa_licence_only_when_a_source_says_so():
    audit = factories.AuditFactory(
        kind=models.AuditKind.ATTESTATION, auditor=factories.AuditorFactory(name="Audit LLP")
    )
    *_, missing = parts_of(audit)["chain"]
    assert missing.missing == "No cited source says Audit LLP is a licensed CPA firm"
    board = factories.AccreditationBodyFactory(
        name="California Board of Accountancy", abbreviation="CBA", kind=models.AccreditationBodyKind.CPA_LICENSING
    )
    factories.AccreditationFactory(holder=audit.auditor, body=board, standard=None, reference="PAR 1")
    *_, licence = parts_of(audit)["chain"]
    assert (licence.role, licence.name) == ("Licensed as a CPA firm by", "California Board of Accountancy (CBA)")
    assert "Licence number PAR 1" in licence.details and not any("IAF" in detail for detail in licence.details)


def test_with_no_named_certification_body_the_chain_says_who_accredits_it_is_not_known():
    standard, certifier, vouching = parts_of(factories.AuditFactory())["chain"]
    assert certifier.missing == "Not named by the sources"
    assert vouching.missing.startswith("Not known: no cited source names the certification body")


def test_the_status_history_dates_each_change_and_cites_it():
    audit = factories.AuditFactory(valid_until=D(2028, 5, 1), valid_until_precision="month")
    change = factories.AuditStatusChangeFactory(audit=audit, reason="Surveillance audit missed")
    later = factories.AuditFactory(subject=audit.subject, standard=audit.standard, issued_on=D(2026, 1, 1))
    history = parts_of(audit)["status_history"]
    assert [(str(event.when), event.label) for event in history] == [
        ("May 2025", "Issued"),
        ("1 June 2025", "Suspended"),
        ("January 2026", "Superseded by a later report"),
        ("May 2028", "Valid until"),
    ]
    assert history[1].citations == [change] and history[1].note == "Surveillance audit missed"
    assert history[2].link == later


def test_an_engagements_history_starts_when_the_engagement_did():
    audit = factories.OngoingAuditFactory()
    (started,) = parts_of(audit)["status_history"]
    assert (str(started.when), started.label) == ("2023", "Engagement started")


def test_entity_reserves_draw_the_ratio_over_time_and_flag_the_reports_under_100():
    audit = factories.ProofOfReservesAuditFactory()
    for month, assets in [(1, 10_300), (2, 9_800), (3, 10_500)]:
        factories.ReserveSnapshotFactory(
            audit=audit, as_of=D(2025, month, 1), assets=assets, liabilities=10_000, reserve_ratio=None
        )
    # A report's per-asset rows are not its totals: the chart draws the totals.
    factories.ReserveSnapshotFactory(audit=audit, asset="BTC", assets=1, liabilities=2, reserve_ratio=None)
    reserves = assurance.entity_reserves(id_list([audit.subject_id], models.Entity))
    assert [row.as_of.month for row in reserves.reports] == [1, 2, 3]
    assert [row.as_of for row in reserves.under_reserved] == [D(2025, 2, 1)]
    points = reserves.ratio_chart.points
    assert [point.label for point in points] == ["103.0 %", "98.0 %", "105.0 %"]
    assert [point.flagged for point in points] == [False, True, False]
    assert points[1].y > reserves.ratio_chart.reference_y > points[0].y  # below the 100 % line, drawn lower
    assert [point.label for point in reserves.assets_chart.points] == ["US$10,300", "US$9,800", "US$10,500"]
    assert reserves.without_figures == []


def test_an_entity_whose_verification_published_no_figures_is_told_so():
    audit = factories.ProofOfReservesAuditFactory()
    reserves = assurance.entity_reserves(id_list([audit.subject_id], models.Entity))
    assert reserves.reports == [] and reserves.ratio_chart is None
    assert reserves.without_figures == [audit]
    assert assurance.entity_reserves(id_list([factories.EntityFactory().pk], models.Entity)) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(12_345, "US$12,345"), (850_000_000, "US$850.0 m"), (10_500_000_000, "US$10.5 bn")],
)
def test_us_dollar_totals_are_shortened(value, text):
    assert assurance.usd(value) == text
