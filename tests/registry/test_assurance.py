"""Who vouches for an auditor, security-audit findings, proof-of-reserves figures (registry/models/assurance.py)."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from registry import models
from tests.factories import (
    AccreditationBodyFactory,
    AccreditationFactory,
    AuditFactory,
    AuditFindingFactory,
    AuditorFactory,
    DraftAuditFactory,
    DraftSourceFactory,
    ProofOfReservesAuditFactory,
    ReserveSnapshotFactory,
    StandardFactory,
)

pytestmark = pytest.mark.django_db
D = datetime.date


def _errors(obj):
    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()
    return excinfo.value.message_dict


# ---------------------------------------------------------------------------
# The reserve ratio and its flag: one rule (ReserveSnapshotQuerySet.with_ratio)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assets", "liabilities", "stated", "ratio", "under"),
    [
        pytest.param(10_500, 10_000, 105, 105.0, False, id="stated-105"),
        pytest.param(9_900, 10_000, None, 99.0, True, id="computed-99"),
        pytest.param(10_000, 10_000, None, 100.0, False, id="exactly-100"),
        pytest.param(None, None, Decimal("98.50"), 98.5, True, id="stated-only-98.5"),
        pytest.param(5, None, None, None, False, id="liabilities-unknown"),
        # Under by a hair: compared exactly, not through a quotient rounded to 100.0.
        pytest.param(Decimal("999999.99"), 1_000_000, None, 99.999999, True, id="under-by-a-cent"),
    ],
)
def test_the_reserve_ratio_and_its_under_100_flag(assets, liabilities, stated, ratio, under):
    row = ReserveSnapshotFactory(assets=assets, liabilities=liabilities, reserve_ratio=stated)
    annotated = models.ReserveSnapshot.objects.with_ratio().get(pk=row.pk)
    assert annotated.ratio == (None if ratio is None else pytest.approx(ratio))
    assert annotated.under_reserved is under
    assert models.ReserveSnapshot.objects.with_ratio().filter(under_reserved=True).exists() is under


def test_latest_totals_is_each_audits_most_recent_totals_row():
    audit = ProofOfReservesAuditFactory()
    ReserveSnapshotFactory(audit=audit, as_of=D(2025, 1, 1))
    latest = ReserveSnapshotFactory(audit=audit, as_of=D(2025, 2, 1))
    ReserveSnapshotFactory(audit=audit, as_of=D(2025, 3, 1), asset="BTC", assets=10, liabilities=9, reserve_ratio=None)
    other = ReserveSnapshotFactory(as_of=D(2024, 12, 1))
    assert set(models.ReserveSnapshot.objects.latest_totals()) == {latest, other}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"reserve_ratio": 110}, "reserve_ratio", "does not match assets ÷ liabilities"),
        ({"liabilities": -1, "reserve_ratio": None}, "liabilities", "cannot be negative"),
        ({"asset": "btc"}, "__all__", "ticker in capitals"),
    ],
)
def test_full_clean_explains_figures_that_cannot_be(values, field, message):
    row = ReserveSnapshotFactory.build(audit=ProofOfReservesAuditFactory(), **values)
    row.source.save()
    assert message in " ".join(_errors(row)[field])


def test_reserve_figures_belong_to_a_proof_of_reserves_verification():
    row = ReserveSnapshotFactory.build(audit=AuditFactory())
    row.source.save()
    assert "proof-of-reserves" in _errors(row)["audit"][0]


def test_a_ratio_rounded_by_its_report_is_consistent_within_half_a_point():
    ReserveSnapshotFactory(assets=10_549, liabilities=10_000, reserve_ratio=105).full_clean()


def test_published_reserve_figures_need_a_public_audit_and_a_published_source():
    shown = ReserveSnapshotFactory()
    ReserveSnapshotFactory(source=DraftSourceFactory())
    ReserveSnapshotFactory(audit=DraftAuditFactory(kind=models.AuditKind.PROOF_OF_RESERVES))
    assert list(models.ReserveSnapshot.objects.published()) == [shown]


# ---------------------------------------------------------------------------
# Who vouches for the auditor
# ---------------------------------------------------------------------------


@pytest.fixture
def certificate():
    return AuditFactory(auditor=AuditorFactory(), standard=StandardFactory(name="ISO/IEC 27001"))


@pytest.mark.parametrize(
    ("case", "bears"),
    [("same standard", True), ("no standard named", True), ("other standard", False), ("other holder", False)],
)
def test_an_accreditation_bears_on_an_audit_of_its_holder_for_its_standard(certificate, case, bears):
    standard = {"same standard": certificate.standard, "no standard named": None}.get(case, StandardFactory())
    holder = AuditorFactory() if case == "other holder" else certificate.auditor
    accreditation = AccreditationFactory(holder=holder, standard=standard)
    # The query (the audit list's filter, the audit page) and the loaded rows' check (the exports) agree.
    assert models.Accreditation.objects.bearing_on(certificate).filter(pk=accreditation.pk).exists() is bears
    assert accreditation.bears_on(certificate) is bears


def test_an_audit_with_no_named_auditor_has_no_accreditation(certificate):
    AccreditationFactory(holder=certificate.auditor, standard=None)
    certificate.auditor = None
    assert not models.Accreditation.objects.bearing_on(certificate).exists()


def test_iaf_mla_membership_is_said_only_with_its_source():
    body = AccreditationBodyFactory.build(iaf_mla_signatory=True)
    assert "source" in _errors(body)["iaf_mla_source"][0]
    cpa = AccreditationBodyFactory.build(kind=models.AccreditationBodyKind.CPA_LICENSING, iaf_mla_signatory=False)
    assert "Only an accreditation body" in " ".join(_errors(cpa).get("iaf_mla_signatory", _errors(cpa).get("__all__")))


def test_findings_fixed_cannot_outnumber_findings_found():
    finding = AuditFindingFactory.build(audit=AuditFactory(), count=2, resolved=3)
    finding.source.save()
    assert "More findings cannot be fixed" in " ".join(_errors(finding)["resolved"])


def test_findings_are_listed_most_severe_first():
    audit = AuditFactory()
    for severity in ("low", "critical", "informational", "high"):
        AuditFindingFactory(audit=audit, severity=severity, resolved=None)
    assert list(audit.findings.values_list("severity", flat=True)) == ["critical", "high", "low", "informational"]
