"""``?as_of=``: an audit's status changes, accreditations, scope, findings and reserve figures as the register
recorded them that day (issue 17), on every surface that takes ``as_of``: the HTML list, the API, the CSV and
JSON exports.

Each story builds its audit long ago and records a fact about it today: the view of yesterday must not know it.
"""

import csv
import datetime
import io

import pytest

from registry import models
from tests import factories
from tests.history.test_as_of import JAN_10, on

pytestmark = pytest.mark.django_db

FEB_01 = datetime.date(2025, 2, 1)
FEB_10 = datetime.date(2025, 2, 10)
FEB_20 = datetime.date(2025, 2, 20)


def today():
    # History rows are dated in UTC, and the as-of day ends at 23:59:59 UTC.
    return datetime.datetime.now(datetime.UTC).date()


def yesterday():
    return today() - datetime.timedelta(days=1)


def html(client, **params):
    response = client.get("/audits/", params)
    assert response.status_code == 200
    return {audit.slug: audit for audit in response.context["object_list"]}


def api(client, **params):
    response = client.get("/api/audits/", params)
    assert response.status_code == 200, response.content[:300]
    return {row["slug"]: row for row in response.json()["results"]}


def export_json(client, **params):
    response = client.get("/audits.json", params)
    assert response.status_code == 200, response.content[:300]
    return {row["slug"]: row for row in response.json()["results"]}


def export_csv(client, **params):
    response = client.get("/audits.csv", params)
    assert response.status_code == 200, response.content[:300]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return {row["slug"]: row for row in csv.DictReader(io.StringIO(text))}


SURFACES = {"html": html, "api": api, "json": export_json, "csv": export_csv}


def listed(client, **params):
    """The slugs each surface lists for ``params``, by surface."""
    return {name: set(read(client, **params)) for name, read in SURFACES.items()}


def everywhere(slugs):
    return {name: set(slugs) for name in SURFACES}


def empty(value):
    """A list column: empty in the API and JSON export ([]), and in the CSV ("")."""
    return value in ([], "", None)


def assert_filled_only_as_of_today(client, slug, column):
    """``slug``'s list column ``column`` is empty as of yesterday and filled as of today, in the API and both
    exports."""
    for read in (api, export_json, export_csv):
        assert empty(read(client, as_of=yesterday().isoformat())[slug][column]), read.__name__
        assert not empty(read(client, as_of=today().isoformat())[slug][column]), read.__name__


def test_a_certificate_suspended_today_is_current_as_of_yesterday_on_every_surface(client):
    with on(JAN_10):
        factories.AuditFactory(slug="cert", issued_on=datetime.date(2025, 1, 1))
    # Recorded today, in effect since yesterday: the register did not know it yesterday.
    factories.AuditStatusChangeFactory(audit=models.Audit.objects.get(slug="cert"), effective_on=yesterday())
    for day, status in ((yesterday(), "current"), (today(), "suspended")):
        as_of = day.isoformat()
        assert html(client, as_of=as_of)["cert"].status == status
        for read in (api, export_json, export_csv):
            row = read(client, as_of=as_of)["cert"]
            assert row["status"] == status
            # The record lists the status changes it was read against, no more.
            assert empty(row["status_changes"]) == (status == "current"), (read.__name__, row["status_changes"])
        assert listed(client, as_of=as_of, status=status) == everywhere({"cert"})
        assert listed(client, as_of=as_of, status="suspended" if status == "current" else "current") == everywhere(
            set()
        )


def test_a_scope_item_added_today_matches_only_as_of_today(client):
    with on(JAN_10):
        audit = factories.OngoingAuditFactory(slug="engagement")
    factories.AuditScopeItemFactory(audit=audit, name="Hot wallet modules")
    assert listed(client, as_of=yesterday().isoformat(), scope_item="wallet") == everywhere(set())
    assert listed(client, as_of=today().isoformat(), scope_item="wallet") == everywhere({"engagement"})
    assert api(client, as_of=yesterday().isoformat())["engagement"]["scope_items"] == []
    assert export_csv(client, as_of=yesterday().isoformat())["engagement"]["scope_items"] == ""
    assert api(client, as_of=today().isoformat())["engagement"]["scope_items"] == ["Hot wallet modules"]


def test_a_finding_added_today_matches_only_as_of_today(client):
    with on(JAN_10):
        audit = factories.OngoingAuditFactory(slug="engagement")
    factories.AuditFindingFactory(audit=audit, severity=models.Severity.HIGH)
    assert listed(client, as_of=yesterday().isoformat(), findings="high") == everywhere(set())
    assert listed(client, as_of=today().isoformat(), findings="high") == everywhere({"engagement"})
    assert_filled_only_as_of_today(client, "engagement", "findings")


def test_reserve_figures_added_today_are_not_in_the_view_of_yesterday(client):
    with on(JAN_10):
        audit = factories.ProofOfReservesAuditFactory(slug="por")
    factories.ReserveSnapshotFactory(audit=audit, assets=9_500, liabilities=10_000, reserve_ratio=95)
    before, now = yesterday().isoformat(), today().isoformat()
    assert listed(client, as_of=before, reserves="published") == everywhere(set())
    assert listed(client, as_of=before, reserves="under_100") == everywhere(set())
    assert listed(client, as_of=before, reserves="none") == everywhere({"por"})
    assert listed(client, as_of=now, reserves="published") == everywhere({"por"})
    assert listed(client, as_of=now, reserves="under_100") == everywhere({"por"})
    assert listed(client, as_of=now, reserves="none") == everywhere(set())
    for read in (api, export_json, export_csv):
        then = read(client, as_of=before)["por"]
        assert empty(then["reserve_ratio"]) and empty(then["reserves_as_of"]), (read.__name__, then)
        assert read(client, as_of=now)["por"]["reserve_ratio"] in (95, 95.0, "95.0"), read.__name__
    assert api(client, as_of=before)["por"]["reserve_snapshots"] == []


def test_an_accreditation_added_today_vouches_only_as_of_today(client):
    with on(JAN_10):
        auditor = factories.AuditorFactory(slug="certifier")
        standard = factories.StandardFactory(slug="iso-27001")
        factories.AuditFactory(slug="cert", auditor=auditor, standard=standard)
    factories.AccreditationFactory(holder=auditor, standard=standard)
    assert listed(client, as_of=yesterday().isoformat(), accredited="true") == everywhere(set())
    assert listed(client, as_of=yesterday().isoformat(), accredited="false") == everywhere({"cert"})
    assert listed(client, as_of=today().isoformat(), accredited="true") == everywhere({"cert"})
    assert_filled_only_as_of_today(client, "cert", "vouched_by")


def test_a_status_change_or_finding_citing_a_draft_then_is_ignored_then(client):
    """Recorded on 1 February citing a source still a draft; the source published on 20 February."""
    with on(JAN_10):
        audit = factories.AuditFactory(slug="cert", issued_on=datetime.date(2025, 1, 1))
        engagement = factories.OngoingAuditFactory(slug="engagement")
    with on(FEB_01):
        draft = factories.DraftSourceFactory(slug="draft")
        factories.AuditStatusChangeFactory(audit=audit, effective_on=JAN_10, source=draft)
        factories.AuditFindingFactory(audit=engagement, severity=models.Severity.CRITICAL, source=draft)
    with on(FEB_20):
        draft.publication_status = models.Publication.PUBLISHED
        draft.save()
    then, later = FEB_10.isoformat(), FEB_20.isoformat()
    assert listed(client, as_of=then, status="suspended") == everywhere(set())
    assert listed(client, as_of=then, findings="critical") == everywhere(set())
    for read in (api, export_json, export_csv):
        rows = read(client, as_of=then)
        assert rows["cert"]["status"] == "current"
        assert empty(rows["cert"]["status_changes"]) and empty(rows["engagement"]["findings"]), read.__name__
    assert listed(client, as_of=later, status="suspended") == everywhere({"cert"})
    assert listed(client, as_of=later, findings="critical") == everywhere({"engagement"})
