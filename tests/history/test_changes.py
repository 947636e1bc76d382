"""The public change history: /changes/, its exports and the "Changes" section of detail pages."""

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from curation import review
from history import feed as changes
from registry import models
from tests.factories import (
    ActivityFactory,
    AuditFactory,
    AuditStatusChangeFactory,
    CuratorFactory,
    DraftEntityFactory,
    DraftLicenseFactory,
    DraftSourceFactory,
    EntityAliasFactory,
    EntityFactory,
    KeyPersonFactory,
    LicenseFactory,
    RegulatorFactory,
    ReviewerFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db

CHANGES_URL = reverse("public:change-list")
CURATED_HISTORY = [
    models.License,
    models.LicenseCitation,
    models.Audit,
    models.AuditCitation,
    models.Entity,
    models.EntityAlias,
    models.EntityCitation,
    models.Regulator,
    models.Regime,
    models.Source,
    models.KeyPerson,
    models.KeyPersonCitation,
]


def export_url(fmt):
    return reverse("public:change-export", kwargs={"format": fmt})


def feed(**filters):
    if "types" in filters:
        filters["types"] = tuple(filters["types"])
    return changes.select(changes.Filters(**filters), 0, 1000)


def read_csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def move_all_history_to(when):
    """Date every history row so far at ``when`` (as if made then)."""
    for model in CURATED_HISTORY:
        model.history.all().update(history_date=when)


@pytest.fixture
def staff():
    return {"curator": CuratorFactory(), "reviewer": ReviewerFactory(), "second_reviewer": ReviewerFactory()}


def curated_licence(staff):
    """A licence a curator entered as a draft and a reviewer published."""
    licence = DraftLicenseFactory(reference_number="REF-1")
    licence = review.save_edit(
        licence, user=staff["curator"], reason="Entered from the regulator's notice", base_version=licence.version
    )
    return review.publish(licence, reviewer=staff["reviewer"], reason="Checked against the notice")


def approve(licence, staff, reason, **proposal):
    revision = review.propose(licence, author=staff["curator"], reason=reason, base_version=licence.version, **proposal)
    review.approve(revision, reviewer=staff["second_reviewer"])
    licence.refresh_from_db()
    return licence


class TestFourEyesChangesAppear:
    def test_publish_then_approved_change_with_fields_and_reason(self, client, staff):
        licence = curated_licence(staff)
        approve(licence, staff, "The regulator suspended the licence", fields={"status": "suspended"})

        licence_changes = feed(types=["license"])
        assert [change.action for change in licence_changes] == ["changed", "published"]
        changed, published = licence_changes
        assert [str(c) for c in changed.changes] == ["Status: Active → Suspended"]
        assert changed.reason == "The regulator suspended the licence"
        assert changed.url == licence.get_absolute_url()
        assert published.reason == "Checked against the notice"
        # The draft's value was never public, so publishing lists no field values.
        assert published.changes == []

        response = client.get(CHANGES_URL)
        html = response.content.decode()
        assert response.status_code == 200
        assert "Status: Active → Suspended" in html
        assert "The regulator suspended the licence" in html
        assert f'href="{licence.get_absolute_url()}"' in html
        for user in staff.values():
            assert user.username not in html
            assert user.email not in html

    def test_partial_dates_and_many_to_many_are_shown_as_the_public_sees_them(self, client, staff):
        licence = curated_licence(staff)
        custody = ActivityFactory(name="Custody")
        approve(
            licence,
            staff,
            "Regulator register lists the grant day and custody",
            fields={"granted_on": "2025-03-14", "granted_on_precision": "day"},
            m2m={"activities": [custody.pk]},
        )
        shown = [str(c) for change in feed(types=["license"]) for c in change.changes]
        assert "Granted on: March 2025 → 14 March 2025" in shown
        assert "Activities: — → Custody" in shown
        # The licence's own page lists the same change, linked to the licence it shows.
        page = client.get(licence.get_absolute_url()).content.decode()
        assert "Granted on: March 2025 → 14 March 2025" in page
        assert "Activities: — → Custody" in page

    def test_unpublishing_shows_unpublished_and_hides_the_records_other_changes(self, client, staff):
        licence = curated_licence(staff)
        licence = approve(licence, staff, "New reference", fields={"reference_number": "REF-2"})
        label = changes._label_license(licence)
        review.unpublish(licence, reviewer=staff["second_reviewer"], reason="The notice was withdrawn")

        licence_changes = feed(types=["license"])
        assert [change.action for change in licence_changes] == ["unpublished"]
        unpublished = licence_changes[0]
        assert (unpublished.label, unpublished.url, unpublished.reason) == (label, "", "The notice was withdrawn")
        html = client.get(CHANGES_URL, {"type": "license"}).content.decode()
        assert "Unpublished" in html
        assert "REF-2" not in html
        assert licence.get_absolute_url() not in html
        assert staff["second_reviewer"].username not in html


def test_draft_only_changes_never_appear(client, staff):
    draft = DraftLicenseFactory(reference_number="SECRET-REF", holder=DraftEntityFactory())
    draft.reference_number = "SECRET-REF-2"
    review.save_edit(draft, user=staff["curator"], reason="Draft tidy-up", base_version=draft.version)
    DraftEntityFactory(name="Hidden Draft Exchange")
    # Published itself, but its holder is a draft: not visible, so neither are its changes.
    LicenseFactory(holder=DraftEntityFactory(name="Hidden Holder"), reference_number="HIDDEN-REF")
    DraftSourceFactory(title="Draft press release")

    # Only the published sources and regimes the factories cite and use are public.
    assert {change.record_type for change in feed()} == {"source", "regime"}
    html = client.get(CHANGES_URL).content.decode()
    for secret in ["SECRET-REF", "Draft tidy-up", "Hidden Draft Exchange", "Hidden Holder", "Draft press release"]:
        assert secret not in html
    assert "No changes match." in client.get(CHANGES_URL, {"type": "license"}).content.decode()
    assert client.get(export_url("json"), {"type": "entity"}).json()["count"] == 0


def test_a_pending_revision_never_appears(client, staff):
    licence = curated_licence(staff)
    review.propose(
        licence,
        author=staff["curator"],
        reason="Pending: maybe revoked",
        base_version=licence.version,
        fields={"status": "revoked"},
    )
    html = client.get(CHANGES_URL).content.decode()
    assert "Pending: maybe revoked" not in html
    assert "Revoked" not in html
    assert [change.action for change in feed(types=["license"])] == ["published"]


def test_changes_made_while_a_record_was_a_draft_stay_hidden_after_it_is_published(staff):
    licence = DraftLicenseFactory(citations=False)
    models.LicenseCitation.objects.create(license=licence, source=SourceFactory(), quote="draft-time citation")
    licence = review.save_edit(licence, user=staff["curator"], reason="Draft work", base_version=licence.version)
    review.publish(licence, reviewer=staff["reviewer"])
    licence_changes = feed(types=["license"])
    assert [change.action for change in licence_changes] == ["published"]


class TestDeletion:
    def test_deleting_a_published_record_shows_deleted_with_label_and_no_link(self, client):
        entity = EntityFactory(name="Defunct Exchange Ltd")
        entity._change_reason = "Duplicate of another record"
        entity.delete()
        entity_changes = feed(types=["entity"])
        assert [(c.action, c.label, c.url, c.reason) for c in entity_changes] == [
            ("deleted", "Defunct Exchange Ltd", "", "Duplicate of another record")
        ]
        html = client.get(CHANGES_URL).content.decode()
        assert "Deleted" in html
        assert "Defunct Exchange Ltd" in html
        assert "/entities/" not in html.split("<tbody>")[1]

    def test_deleting_a_draft_shows_nothing(self):
        DraftEntityFactory(name="Never Public").delete()
        assert feed() == []

    def test_a_deleted_licence_whose_holder_is_a_draft_does_not_reveal_the_holder(self):
        holder = EntityFactory(name="Later Withdrawn Holder")
        licence = LicenseFactory(holder=holder)
        holder.publication_status = models.Publication.DRAFT
        holder.save()
        licence.citations.all().delete()
        licence.delete()
        licence_changes = feed(types=["license"])
        assert all("Later Withdrawn Holder" not in change.label for change in licence_changes)
        assert "deleted" not in [change.action for change in licence_changes]


class TestChildRecords:
    def test_citation_added_through_review_shows_on_the_parent(self, client, staff):
        licence = curated_licence(staff)
        source = SourceFactory(title="Official register extract")
        approve(
            licence,
            staff,
            "Cite the official register",
            inlines={
                "registry.LicenseCitation": {
                    "create": [
                        {"source_id": source.pk, "quote": "Registered"},
                        {"source_id": source.pk, "quote": "Status: authorised", "supports": "status"},
                    ]
                }
            },
        )
        added = [change for change in feed(types=["license"]) if change.action == "changed"]
        assert sorted(str(c) for change in added for c in change.changes) == [
            "Citation added: Official register extract",
            "Citation added: Official register extract, for the status",
        ]
        assert added[0].url == licence.get_absolute_url()
        assert added[0].reason == "Cite the official register"

    def test_citation_of_a_draft_source_and_of_a_hidden_parent_stay_hidden(self):
        licence = LicenseFactory()
        models.LicenseCitation.objects.create(license=licence, source=DraftSourceFactory(title="Unpublished memo"))
        hidden = DraftLicenseFactory()
        models.LicenseCitation.objects.create(license=hidden, source=SourceFactory(title="Cited by a draft"))
        shown = [str(c) for change in feed(types=["license"]) for c in change.changes]
        assert not any("Unpublished memo" in text or "Cited by a draft" in text for text in shown)

    def test_citation_quote_change_and_removal(self):
        # A second source keeps the licence cited, so public, once the first citation is removed.
        licence = LicenseFactory(citations=[SourceFactory(), SourceFactory()])
        citation = licence.citations.first()
        citation.quote = "obtained its licence in March 2025"
        citation._change_reason = "Fuller quote"
        citation.save()
        citation._change_reason = "Source does not say this"
        citation.delete()
        title = citation.source.title
        shown = [(str(c), change.reason) for change in feed(types=["license"]) for c in change.changes]
        assert (f"Citation ({title}): quote changed", "Fuller quote") in shown
        assert (f"Citation removed: {title}", "Source does not say this") in shown

    def test_key_person_and_alias_changes_show_under_their_types(self):
        person = KeyPersonFactory(name="Jane Roe", role="Chief Executive Officer")
        person.role = "Chair"
        person._change_reason = "Annual report"
        person.save()
        EntityAliasFactory(entity=person.entity, name="RoeX")
        people = feed(types=["keyperson"])
        assert people[0].label == f"Jane Roe, Chair ({person.entity.name})"
        assert [str(c) for c in people[0].changes] == ["Role: Chief Executive Officer → Chair"]
        assert people[0].url == person.entity.get_absolute_url()
        entity_changes = [str(c) for change in feed(types=["entity"]) for c in change.changes]
        assert "Alias added: RoeX (trading name)" in entity_changes


class TestFilters:
    @pytest.fixture
    def dated(self):
        old = LicenseFactory()
        move_all_history_to(timezone.make_aware(datetime.datetime(2024, 1, 10, 12, 0)))
        new = AuditFactory()
        return old, new

    def test_filter_by_type(self, client, dated):
        response = client.get(CHANGES_URL, {"type": "audit"})
        rows = response.context["object_list"]
        assert rows
        assert {change.record_type for change in rows} == {"audit"}
        json_rows = client.get(export_url("json"), {"type": "license"}).json()["results"]
        assert json_rows
        assert {row["record_type"] for row in json_rows} == {"license"}

    def test_filter_by_date_range_inclusive_of_both_days(self, client, dated):
        old, new = dated
        january = client.get(CHANGES_URL, {"since": "2024-01-10", "until": "2024-01-10"}).context["object_list"]
        assert january
        assert {change.date.date() for change in january} == {datetime.date(2024, 1, 10)}
        assert any(change.url == old.get_absolute_url() for change in january)
        recent = client.get(CHANGES_URL, {"since": "2025"}).context["object_list"]
        assert any(change.url == new.get_absolute_url() for change in recent)
        assert all(change.date.year >= 2025 for change in recent)
        before = client.get(CHANGES_URL, {"until": "2023-12"}).context["object_list"]
        assert list(before) == []

    def test_dates_are_shown_day_month_year(self, client, dated):
        html = client.get(CHANGES_URL, {"until": "2024"}).content.decode()
        assert "10 January 2024" in html
        assert 'datetime="2024-01-10T12:00:00Z"' in html

    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ({"since": "yesterday"}, "since", "Enter a valid date"),
            ({"until": "2024-13-01"}, "until", "Enter a valid date"),
            ({"since": "2025-02", "until": "2025-01"}, "until", "cannot be before its start"),
            ({"type": "spaceship"}, "type", "Select a valid choice"),
            ({"since": "2024\x00"}, "since", "Null characters are not allowed"),
        ],
    )
    def test_bad_input_message_on_the_page_and_400_on_exports(self, client, dated, query, field, message):
        response = client.get(CHANGES_URL, query)
        assert response.status_code == 200
        assert message in response.context["filter"].form.errors[field][0]
        assert "field-errors" in response.content.decode()
        # The bad parameter is ignored, the rest of the list still shows.
        assert response.context["paginator"].count > 0
        for fmt in ("csv", "json"):
            bad = client.get(export_url(fmt), query)
            assert bad.status_code == 400
            assert field in bad.json()["parameters"]

    def test_bad_page_falls_back_to_page_one(self, client, dated):
        response = client.get(CHANGES_URL, {"page": "999"})
        assert response.status_code == 200
        assert response.context["page_obj"].number == 1
        assert "showing page 1 instead" in response.content.decode()


class TestExports:
    def test_csv_has_every_change_with_readable_fields(self, client, staff):
        licence = curated_licence(staff)
        approve(licence, staff, "=cmd|' /C calc'!A0", fields={"status": "revoked"})
        rows = read_csv(client.get(export_url("csv"), {"type": "license"}))
        assert [row["action"] for row in rows] == ["changed", "published"]
        changed = rows[0]
        assert changed["changes"] == "Status: Active → Revoked"
        assert changed["url"] == f"http://testserver{licence.get_absolute_url()}"
        assert changed["record_type_display"] == "Licence"
        # A spreadsheet must not run the editor's text as a formula.
        assert changed["reason"].startswith("'=")
        assert datetime.datetime.fromisoformat(changed["date"]).utcoffset() == datetime.timedelta(0)
        assert changed["date"].endswith("Z")
        assert not any(staff["curator"].username in value for row in rows for value in row.values())

    def test_empty_csv_still_has_its_header(self, client):
        response = client.get(export_url("csv"))
        body = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
        assert body.strip().split(",") == changes_columns()

    def test_json_shape_and_paging(self, client, staff):
        licence = curated_licence(staff)
        approve(licence, staff, "Suspended", fields={"status": "suspended"})
        body = client.get(export_url("json"), {"type": "license"}).json()
        assert body["count"] == 2
        assert body["next"] is None
        first = body["results"][0]
        assert set(first) == set(changes_columns())
        assert first["changes"] == [{"field": "Status", "old": "Active", "new": "Suspended"}]
        assert first["action"] == "changed"

        page = client.get(export_url("json"), {"page_size": "1"}).json()
        assert len(page["results"]) == 1
        assert page["next"]
        everything = []
        url = export_url("json") + "?page_size=1"
        while url:
            body = client.get(url).json()
            everything += body["results"]
            url = body["next"]
        assert len(everything) == page["count"]


def changes_columns():
    from opendata.serializers import ChangeSerializer

    return ChangeSerializer.table().names


EVERY_TABLE = 12  # edits that reach each of the twelve history tables once, and so every query a page may need


def build_every_kind_of_change(edits):
    """Records of every type, then ``edits`` applied changes spread over all twelve history tables."""
    licence = LicenseFactory()
    audit = AuditFactory()
    regulator = RegulatorFactory()
    person = KeyPersonFactory(entity=licence.holder)
    alias = EntityAliasFactory(entity=licence.holder)
    entity_citation = models.EntityCitation.objects.create(entity=licence.holder, source=SourceFactory())
    person_citation = models.KeyPersonCitation.objects.create(key_person=person, source=SourceFactory())
    targets = [
        (licence, "reference_number"),
        (licence.citations.get(), "locator"),
        (audit, "reference"),
        (audit.citations.get(), "locator"),
        (licence.holder, "website"),
        (alias, "name"),
        (entity_citation, "locator"),
        (regulator, "abbreviation"),
        (licence.license_type.regime, "legal_reference"),
        (licence.citations.get().source, "publisher"),
        (person, "role"),
        (person_citation, "locator"),
    ]
    for number in range(edits):
        obj, field = targets[number % len(targets)]
        obj.refresh_from_db()
        setattr(obj, field, f"{field} {number}" if field != "website" else f"https://example.com/{number}")
        obj._change_reason = f"Edit {number}"
        obj.save()


# Committed writes, as in production: PostgreSQL raises the data version (which keys the cached count) once per
# transaction, so without commits the second request would be served the first one's count.
@pytest.mark.django_db(transaction=True)
def test_query_count_does_not_grow_with_the_number_of_changes(client, django_assert_max_num_queries):
    build_every_kind_of_change(EVERY_TABLE)
    with CaptureQueriesContext(connection) as few:
        assert client.get(CHANGES_URL).status_code == 200
    build_every_kind_of_change(60)
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        response = client.get(CHANGES_URL)
    assert response.context["paginator"].count > 60
    assert len(response.context["object_list"]) == 50
    # Both pages hold rows of all twelve history tables: the same queries, whatever the number of rows.
    assert len(many) == len(few)


def test_query_count_of_exports_does_not_grow(client, django_assert_max_num_queries):
    build_every_kind_of_change(EVERY_TABLE)
    with CaptureQueriesContext(connection) as few:
        client.get(export_url("json"))
    build_every_kind_of_change(60)
    with django_assert_max_num_queries(len(few)):
        body = client.get(export_url("json")).json()
    assert body["count"] > 60
    assert len(body["results"]) == min(body["count"], 100)


def keys(changes_list):
    return [(change.date, change.record_type, change.label, change.action, change.reason) for change in changes_list]


class TestPagingAndIteration:
    """Each track reads only its newest rows for a page; pages, slices and exports must still be one ordered list."""

    @pytest.fixture
    def many(self):
        build_every_kind_of_change(40)
        # Five tables' rows loaded at one instant, as a fixture is, and newest: ties are broken by track, then by
        # history row, within a page and across pages.
        tie = timezone.now() + datetime.timedelta(hours=1)
        for model in [models.License, models.LicenseCitation, models.Entity, models.EntityAlias, models.Source]:
            model.history.all().update(history_date=tie)
        return changes.ALL

    # Near the top a page reads each track's newest rows; deeper, the whole UNION is ordered: both must agree.
    @pytest.mark.parametrize("newest_rows", [changes.NEWEST_ROWS, 4])
    def test_pages_slices_and_iteration_are_one_ordered_list(self, many, monkeypatch, newest_rows):
        monkeypatch.setattr(changes, "NEWEST_ROWS", newest_rows)
        everything = changes.select(many, 0, 1000)
        # Not every edit: the audits, key people and their citations were edited before their entity's and
        # source's history rows (moved later), so by the as-of rule they were not public when edited.
        assert len(everything) == changes.count(many) > 30
        assert [change.date for change in everything] == sorted((change.date for change in everything), reverse=True)
        paged = [change for start in range(0, len(everything), 7) for change in changes.select(many, start, 7)]
        assert keys(paged) == keys(everything)
        assert keys(changes.iterate(many, chunk_size=5)) == keys(everything)
        singles = changes.select(many, 3, 1) + changes.select(many, len(everything) - 1, 1)
        assert keys(singles) == keys([everything[3], everything[-1]])
        assert keys(changes.select(many, 5)) == keys(everything[5:])
        assert changes.select(many, len(everything), 1) == []
        assert changes.page(many, 7, 7) == (everything[7:14], len(everything))
        assert changes.page(many, len(everything), 7) == ([], len(everything))

    def test_filtered_feeds_count_and_page_alike(self, many):
        today = timezone.localdate()
        for filters in [
            changes.Filters(types=("license",)),
            changes.Filters(types=("entity",)),
            changes.Filters(since=today, until=today),
        ]:
            listed = changes.select(filters, 0, 1000)
            assert listed
            assert len(listed) == changes.count(filters) == len(keys(changes.iterate(filters, chunk_size=4)))
            assert keys(changes.select(filters, 2, 4)) == keys(listed[2:6])

    def test_a_write_changes_the_next_count_and_page(self, many):
        before = changes.count(many)
        source = models.Source.objects.filter(publication_status=models.Publication.PUBLISHED).first()
        source.publisher = "A new publisher"
        source._change_reason = "Publisher renamed"
        source.save()
        assert changes.count() == before + 1
        assert "Publisher renamed" in [change.reason for change in changes.select(changes.ALL, 0, 1000)]


class TestDetailPages:
    def test_licence_page_lists_its_changes(self, client, staff):
        licence = curated_licence(staff)
        approve(licence, staff, "The regulator suspended the licence", fields={"status": "suspended"})
        other = LicenseFactory(reference_number="OTHER")
        other.reference_number = "OTHER-2"
        other.save()
        response = client.get(licence.get_absolute_url())
        html = response.content.decode()
        section = html.split('id="changes-heading"')[1]
        assert "Status: Active → Suspended" in section
        assert "The regulator suspended the licence" in section
        assert "OTHER-2" not in section
        assert staff["second_reviewer"].username not in html

    def test_entity_page_lists_its_key_people_changes(self, client):
        person = KeyPersonFactory(name="Jane Roe")
        person.role = "Chair"
        person.save()
        section = client.get(person.entity.get_absolute_url()).content.decode().split('id="changes-heading"')[1]
        assert "Role: Chief Executive Officer → Chair" in section

    def test_every_detail_page_has_a_changes_section(self, client):
        licence = LicenseFactory()
        audit = AuditFactory()
        regulator = RegulatorFactory()
        regulator.regimes.add(licence.license_type.regime)
        for obj in [
            licence,
            audit,
            regulator,
            licence.holder,
            licence.license_type.regime,
            audit.citations.get().source,
        ]:
            response = client.get(obj.get_absolute_url())
            assert response.status_code == 200
            html = response.content.decode()
            assert '<h2 id="changes-heading">Changes</h2>' in html
            assert "Created" in html.split('id="changes-heading"')[1] or "created" in html

    def test_detail_page_query_count_does_not_grow(self, client, django_assert_max_num_queries):
        licence = LicenseFactory()

        def edit(times):
            for number in range(times):
                licence.reference_number = f"R{number}"
                licence.save()

        edit(2)
        with CaptureQueriesContext(connection) as few:
            client.get(licence.get_absolute_url())
        edit(40)
        with django_assert_max_num_queries(len(few)):
            html = client.get(licence.get_absolute_url()).content.decode()
        assert f"The {changes.DETAIL_PAGE_LIMIT} most recent of" in html


def test_seed_fixture_records_appear_as_created(client, seed_data):
    created = [change for change in feed() if change.action == "created"]
    labels = {change.label for change in created}
    assert "OKX" in labels
    okx_mica = models.License.objects.get(slug="okx-mica-casp")
    assert any(change.url == okx_mica.get_absolute_url() for change in created)
    # Loaded at one instant: newest first still reads as "created", then its citations were added.
    on_its_page = changes.changes_for(okx_mica)["changes"]
    assert on_its_page[-1].action == "created"
    assert {change.action for change in on_its_page[:-1]} == {"changed"}
    assert any("for the date granted" in str(c) for change in on_its_page for c in change.changes)
    assert client.get(CHANGES_URL).status_code == 200


class TestListedFromTheMomentItIsPublic:
    """A record enters the change history when the public can first see it, not when its own status says so."""

    @staticmethod
    def public_everywhere(client, licence):
        """Whether each public surface shows the licence; they must all agree."""
        listing = client.get(reverse("public:license-list")).content.decode()
        shown = {
            "published()": models.License.objects.published().filter(pk=licence.pk).exists(),
            "list": licence.get_absolute_url() in listing,
            "detail": client.get(licence.get_absolute_url()).status_code == 200,
            "api": client.get(f"/api/licenses/{licence.slug}/").status_code == 200,
            "feed": any(change.url == licence.get_absolute_url() for change in feed(types=["license"])),
        }
        assert len(set(shown.values())) == 1, shown
        return shown["published()"]

    # Committed writes, as in production: on PostgreSQL the data version that keys the lists' cached pages rises
    # once per transaction, so in one transaction the list would show its page from before the holder's publication.
    @pytest.mark.django_db(transaction=True)
    def test_a_licence_published_before_its_holder_goes_public_and_into_the_feed_with_its_holder(self, client, staff):
        holder = DraftEntityFactory(name="Late Holder Ltd")
        licence = DraftLicenseFactory(holder=holder, reference_number="LATE-1")
        licence = review.save_edit(licence, user=staff["curator"], reason="Entered", base_version=licence.version)
        review.publish(licence, reviewer=staff["reviewer"], reason="Licence checked")
        move_all_history_to(timezone.now() - datetime.timedelta(days=2))

        assert not self.public_everywhere(client, licence)
        assert "LATE-1" not in client.get(CHANGES_URL, {"type": "license"}).content.decode()
        assert changes.changes_for(licence)["count"] == 0

        review.publish(holder, reviewer=staff["second_reviewer"], reason="Holder checked")
        holder_published = holder.history.latest().history_date

        assert self.public_everywhere(client, licence)
        licence_changes = feed(types=["license"])
        assert [(change.action, change.label) for change in licence_changes] == [
            ("published", changes._label_license(licence))
        ]
        published = licence_changes[0]
        assert holder_published <= published.date < holder_published + datetime.timedelta(seconds=5)
        assert published.reason == "Public since “Late Holder Ltd” was published"
        html = client.get(CHANGES_URL, {"type": "license"}).content.decode()
        assert "Published" in html and licence.get_absolute_url() in html
        # The as-of view agrees: not public the day before, public today.
        yesterday = (timezone.now() - datetime.timedelta(days=1)).date().isoformat()
        as_of = client.get(reverse("public:license-list"), {"as_of": yesterday}).content.decode()
        assert licence.get_absolute_url() not in as_of
        today = timezone.now().date().isoformat()
        assert (
            licence.get_absolute_url() in client.get(reverse("public:license-list"), {"as_of": today}).content.decode()
        )

    def test_returning_the_holder_to_draft_takes_the_licence_off_and_republishing_lists_it_again(self, staff):
        licence = curated_licence(staff)
        holder = licence.holder
        review.unpublish(holder, reviewer=staff["second_reviewer"], reason="Name under review")
        assert not models.License.objects.published().filter(pk=licence.pk).exists()
        assert licence.history.latest().history_change_reason == f"No longer public: “{holder}” was returned to draft"

        review.publish(holder, reviewer=staff["reviewer"], reason="Name confirmed")
        actions = [(change.action, change.reason) for change in feed(types=["license"])]
        assert actions == [
            ("published", f"Public since “{holder}” was published"),
            ("unpublished", f"No longer public: “{holder}” was returned to draft"),
            ("published", "Checked against the notice"),
        ]


def test_a_licence_made_public_by_an_approved_citation_is_listed_as_published_then(staff):
    licence = DraftLicenseFactory(citations=[DraftSourceFactory(title="Unpublished memo")])
    licence = review.save_edit(licence, user=staff["curator"], reason="Entered", base_version=licence.version)
    review.publish(licence, reviewer=staff["reviewer"])
    assert feed(types=["license"]) == []

    source = SourceFactory(title="Regulator's notice")
    approve(
        licence, staff, "Cite the notice", inlines={"registry.LicenseCitation": {"create": [{"source_id": source.pk}]}}
    )
    assert models.License.objects.published().filter(pk=licence.pk).exists()
    # The citation made it public (listed, as the licence was public once it was added), then the licence's own
    # row says so: without that row the feed would never say "published".
    assert [(change.action, change.reason) for change in feed(types=["license"])] == [
        ("published", "Cite the notice"),
        ("changed", "Cite the notice"),
    ]


def test_last_7_and_30_days_are_links_that_set_since_and_show_which_is_selected(client):
    today = timezone.localdate()
    recent, older = EntityFactory(name="Recent Exchange"), EntityFactory(name="Older Exchange")
    recent.history.all().update(history_date=timezone.now() - datetime.timedelta(days=6))
    older.history.all().update(history_date=timezone.now() - datetime.timedelta(days=20))
    html = client.get(CHANGES_URL).content.decode()
    week, month = (today - datetime.timedelta(days=6)).isoformat(), (today - datetime.timedelta(days=29)).isoformat()
    assert f'<a href="?since={week}">Last 7 days</a>' in html
    assert f'<a href="?since={month}">Last 30 days</a>' in html
    assert '<a href="?" aria-current="true">All dates</a>' in html

    html = client.get(CHANGES_URL, {"since": week, "type": "entity"}).content.decode()
    assert f'<a href="?since={week}&amp;type=entity" aria-current="true">Last 7 days</a>' in html
    assert "Recent Exchange" in html and "Older Exchange" not in html
    html = client.get(CHANGES_URL, {"since": month}).content.decode()
    assert "Recent Exchange" in html and "Older Exchange" in html


def test_an_edit_of_a_sources_text_lists_the_text_and_no_workflow_field_or_digest(staff):
    source = DraftSourceFactory(archived_text="Example Exchange obtained its licence.")
    source = review.save_edit(source, user=staff["curator"], reason="Archived the notice", base_version=source.version)
    source = review.publish(source, reviewer=staff["reviewer"], reason="Checked")
    approve(source, staff, "The notice was corrected", fields={"archived_text": "Example Exchange obtained it."})

    changed, published = feed(types=["source"])
    assert (changed.action, published.action) == ("changed", "published")
    # Long text is named, not quoted; its digest (recomputed on save) is no change of its own.
    assert [str(change) for change in changed.changes] == ["Archived text changed"]


def test_a_certificates_status_change_is_a_dated_cited_change_of_the_audit():
    """Issue 17: a suspension shows in the change history as a change of its audit, naming its date and source."""
    audit = AuditFactory()
    change = AuditStatusChangeFactory(
        audit=audit, source=SourceFactory(title="Certification body notice"), effective_on=datetime.date(2025, 6, 1)
    )
    AuditStatusChangeFactory(audit=audit, source=DraftSourceFactory(title="Draft memo"), status="withdrawn")
    shown = [(change.url, str(c)) for change in feed(types=["audit"]) for c in change.changes]
    added = f"Status change added: suspended from {change.effective}, per Certification body notice"
    assert (audit.get_absolute_url(), added) in shown
    assert not any("Draft memo" in text for _, text in shown)


def test_each_detail_page_lists_its_own_record_changes():
    """One record's changes are compiled once per record type (history.feed._run): each page still gets its own."""
    first, second = LicenseFactory(reference_number="FIRST-1"), LicenseFactory(reference_number="SECOND-1")
    second.reference_number = "SECOND-2"
    second.save()
    entity = second.holder
    for record in (first, second, entity, first):
        listed = changes.changes_for(record)
        assert listed["changes"], record
        assert {change.url for change in listed["changes"]} == {record.get_absolute_url()}
        assert listed["count"] == len(listed["changes"])
    assert len(changes.changes_for(second)["changes"]) > len(changes.changes_for(first)["changes"])
