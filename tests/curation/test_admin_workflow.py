"""The curation workflow through the admin: history, four-eyes publishing, no lost edits, freshness.

Each test drives the admin with Django's test client, logged in as the
curator or reviewer a real person would be.
"""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from curation import review
from registry import models
from tests import factories
from tests.forms import form_data, licence_add_data

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def as_user(client, user):
    client.force_login(user)
    return client


def change_page_data(client, obj):
    """GET the record's change page; return its URL and the form's data as a browser would post it."""
    url = change_url(obj)
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {bound.html_name: str(bound.value()) for bound in formset.management_form}
        for form in formset.forms:
            form_data(form, data)
    return url, data


def change_url(obj):
    return reverse(f"admin:registry_{obj._meta.model_name}_change", args=[obj.pk])


def messages_of(response):
    return [str(message) for message in response.context["messages"]] if response.context else []


def errors_of(response):
    errors = [str(error) for error in response.context["errors"]]
    errors += [str(e) for formset in response.context["inline_admin_formsets"] for e in formset.non_form_errors()]
    return " ".join(errors)


@pytest.fixture
def second_reviewer():
    return factories.ReviewerFactory()


@pytest.fixture
def parts(licence_parts):
    return licence_parts


def add_licence_data(parts, **overrides):
    return licence_add_data(parts) | {"last_verified_on": ""} | overrides


def draft_by(client, user, parts):
    """A licence added through the admin by ``user``."""
    response = as_user(client, user).post(reverse("admin:registry_license_add"), add_licence_data(parts))
    assert response.status_code == 302, errors_of(response)
    return models.License.objects.get(holder=parts["holder"])


def publish_action(client, obj, follow=True):
    """The changelist's "Publish" action, confirmed on its intermediate page."""
    url = reverse(f"admin:registry_{obj._meta.model_name}_changelist")
    data = {"action": "publish", "_selected_action": [obj.pk]}
    return client.post(url, {**data, "confirm": "yes"}, follow=follow)


# ---------------------------------------------------------------------------
# Change history
# ---------------------------------------------------------------------------


def test_history_records_create_change_and_delete_with_fields_and_reason(client, curator, reviewer, parts):
    licence = draft_by(client, curator, parts)
    created = licence.history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+",
        curator,
        "Entered from the OKX compliance overview",
    )
    assert licence.citations.get().history.get().history_change_reason == "Entered from the OKX compliance overview"

    url, data = change_page_data(client, licence)
    client.post(url, data | {"reference_number": "FRN-1", "change_reason": "Number from the FCA register"})
    changed = licence.history.first()
    assert (changed.history_type, changed.history_user, changed.history_change_reason) == (
        "~",
        curator,
        "Number from the FCA register",
    )
    delta = changed.diff_against(changed.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes if c.field == "reference_number"] == [
        ("reference_number", "", "FRN-1")
    ]

    # Staff see it in the record's history page, field by field.
    history = client.get(reverse("admin:registry_license_history", args=[licence.pk])).content.decode()
    assert "Number from the FCA register" in history
    assert "Reference number" in history and "FRN-1" in history
    assert "Entered from the OKX compliance overview" in history

    response = as_user(client, reviewer).post(
        reverse("admin:registry_license_delete", args=[licence.pk]),
        {"post": "yes", "change_reason": "Duplicate of the Maltese entry"},
    )
    assert response.status_code == 302
    assert not models.License.objects.filter(pk=licence.pk).exists()
    deleted = models.License.history.filter(id=licence.pk).first()
    assert (deleted.history_type, deleted.history_user, deleted.history_change_reason) == (
        "-",
        reviewer,
        "Duplicate of the Maltese entry",
    )


def test_history_cannot_be_used_to_revert_without_review(client, reviewer):
    licence = factories.LicenseFactory(reference_number="FIRST")
    licence.reference_number = "SECOND"
    licence.save()
    first = licence.history.last()
    url = reverse("admin:registry_license_simple_history", args=[licence.pk, first.history_id])

    assert as_user(client, reviewer).get(url).status_code == 200
    response = client.post(url, {"reference_number": "FIRST", "change_reason": "Revert"})
    assert response.status_code == 405
    licence.refresh_from_db()
    assert licence.reference_number == "SECOND"
    assert licence.history.count() == 2


def test_a_change_without_a_reason_is_refused(client, curator, parts):
    licence = draft_by(client, curator, parts)
    url, data = change_page_data(client, licence)
    response = client.post(url, data | {"reference_number": "FRN-1", "change_reason": ""})

    assert response.status_code == 200
    assert "This field is required" in str(response.context["adminform"].form.errors["change_reason"])
    licence.refresh_from_db()
    assert licence.reference_number == ""


def test_deleting_needs_a_reason(client, reviewer):
    licence = factories.LicenseFactory()
    response = as_user(client, reviewer).post(
        reverse("admin:registry_license_delete", args=[licence.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert models.License.objects.filter(pk=licence.pk).exists()


# ---------------------------------------------------------------------------
# Four-eyes publishing
# ---------------------------------------------------------------------------


def test_a_new_record_is_a_draft_whatever_the_form_says(client, reviewer, parts):
    response = as_user(client, reviewer).post(
        reverse("admin:registry_license_add"), add_licence_data(parts, publication_status="published")
    )
    assert response.status_code == 302, errors_of(response)
    licence = models.License.objects.get()
    assert licence.publication_status == models.Publication.DRAFT
    assert licence.last_edited_by == reviewer
    assert client.get(f"/licenses/{licence.slug}/").status_code == 404


def test_curator_cannot_publish(client, curator, parts):
    licence = draft_by(client, factories.CuratorFactory(), parts)
    response = publish_action(as_user(client, curator), licence)

    assert any("was not published" in m and "Only a reviewer" in m for m in messages_of(response))
    licence.refresh_from_db()
    assert licence.publication_status == models.Publication.DRAFT

    # Nor through the record's own Publish page.
    publish_url = reverse("admin:registry_license_publish", args=[licence.pk])
    assert "Only a reviewer" in client.get(publish_url).content.decode()
    client.post(publish_url, {"reason": ""})
    licence.refresh_from_db()
    assert licence.publication_status == models.Publication.DRAFT


def test_curator_cannot_delete(client, curator):
    licence = factories.LicenseFactory()
    response = as_user(client, curator).post(
        reverse("admin:registry_license_delete", args=[licence.pk]), {"post": "yes", "change_reason": "Wrong"}
    )
    assert response.status_code == 403
    assert models.License.objects.filter(pk=licence.pk).exists()


def test_reviewer_cannot_publish_their_own_draft_but_another_can(client, reviewer, second_reviewer, parts):
    licence = draft_by(client, reviewer, parts)

    response = publish_action(client, licence)
    assert any("another reviewer must publish it" in m for m in messages_of(response))
    page = client.get(change_url(licence)).content.decode()
    assert "You made the last edit to this record: another reviewer must publish it." in page
    licence.refresh_from_db()
    assert licence.publication_status == models.Publication.DRAFT

    as_user(client, second_reviewer).post(
        reverse("admin:registry_license_publish", args=[licence.pk]), {"reason": "Checked against the article"}
    )
    licence.refresh_from_db()
    assert (licence.publication_status, licence.published_by) == (models.Publication.PUBLISHED, second_reviewer)
    assert licence.history.first().history_change_reason == "Checked against the article"
    assert client.get(f"/licenses/{licence.slug}/").status_code == 200


def test_a_superuser_is_held_to_four_eyes_too(client, parts):
    boss = get_user_model().objects.create_superuser("boss", "boss@registry.example", "a-long-unused-password")
    licence = draft_by(client, boss, parts)

    response = publish_action(client, licence)
    assert any("another reviewer must publish it" in m for m in messages_of(response))
    licence.refresh_from_db()
    assert licence.publication_status == models.Publication.DRAFT


def test_unpublishing_asks_for_a_reason(client, reviewer):
    licence = factories.LicenseFactory()
    url = reverse("admin:registry_license_changelist")
    as_user(client, reviewer)

    page = client.post(url, {"action": "unpublish", "_selected_action": [licence.pk]})
    assert page.status_code == 200
    assert "Why are they taken off the public site?" in page.content.decode()
    licence.refresh_from_db()
    assert licence.is_published

    client.post(url, {"action": "unpublish", "_selected_action": [licence.pk], "confirm": "yes", "reason": ""})
    licence.refresh_from_db()
    assert licence.is_published

    client.post(
        url,
        {"action": "unpublish", "_selected_action": [licence.pk], "confirm": "yes", "reason": "Regulator withdrew it"},
    )
    licence.refresh_from_db()
    assert not licence.is_published
    assert licence.history.first().history_change_reason == "Regulator withdrew it"


def test_curators_edit_to_a_published_licence_waits_for_a_second_reviewer(client, curator, reviewer):
    licence = factories.LicenseFactory(reference_number="OLD-1")
    version = licence.version
    public_url = f"/licenses/{licence.slug}/"

    url, data = change_page_data(as_user(client, curator), licence)
    response = client.post(
        url, data | {"reference_number": "NEW-2", "change_reason": "The FCA register gives NEW-2"}, follow=True
    )
    assert any("Your change is waiting for review" in m for m in messages_of(response))

    revision = models.Revision.objects.get()
    assert (revision.author, revision.status, revision.base_version) == (curator, "pending", version)
    assert revision.changes["fields"] == {"reference_number": "NEW-2"}
    assert revision.reason == "The FCA register gives NEW-2"
    licence.refresh_from_db()
    assert (licence.reference_number, licence.version) == ("OLD-1", version)
    assert "OLD-1" in client.get(public_url).content.decode()
    assert "NEW-2" not in client.get(public_url).content.decode()

    # The record's page lists the pending revision; the revision page shows current → proposed.
    assert reverse("admin:registry_revision_change", args=[revision.pk]) in client.get(url).content.decode()
    detail = as_user(client, reviewer).get(reverse("admin:registry_revision_change", args=[revision.pk]))
    assert ("reference number", "OLD-1", "NEW-2") in detail.context["differences"]
    assert "The FCA register gives NEW-2" in detail.content.decode()

    client.post(reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve", "note": ""})
    revision.refresh_from_db()
    assert (revision.status, revision.reviewer) == ("approved", reviewer)
    licence.refresh_from_db()
    assert licence.reference_number == "NEW-2"
    assert (licence.last_edited_by, licence.published_by) == (curator, reviewer)
    assert "NEW-2" in client.get(public_url).content.decode()


def test_an_edit_to_citations_of_a_published_licence_is_a_revision_too(client, curator, reviewer):
    licence = factories.LicenseFactory()
    old_citation = licence.citations.get()
    new_source = factories.SourceFactory(title="FCA register entry")

    url, data = change_page_data(as_user(client, curator), licence)
    data |= {
        "citations-TOTAL_FORMS": "2",
        "citations-0-DELETE": "on",
        "citations-1-source": new_source.pk,
        "citations-1-supports": models.LicenseFact.STATUS,
        "citations-1-quote": "Authorised",
        "citations-1-locator": "",
        "citations-1-states": "",
        "change_reason": "Cite the register instead of the press release",
    }
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)

    assert list(licence.citations.all()) == [old_citation]
    revision = models.Revision.objects.get()
    operations = revision.changes["inlines"]["registry.LicenseCitation"]
    assert operations["delete"] == [old_citation.pk]
    assert operations["create"][0]["source_id"] == new_source.pk

    as_user(client, reviewer).post(
        reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve"}
    )
    assert [(c.source, c.supports) for c in licence.citations.all()] == [(new_source, models.LicenseFact.STATUS)]


def test_reviewer_cannot_approve_their_own_revision(client, reviewer):
    licence = factories.LicenseFactory()
    url, data = change_page_data(as_user(client, reviewer), licence)
    client.post(url, data | {"reference_number": "MINE-1", "change_reason": "My own fix"})
    revision = models.Revision.objects.get()

    detail = client.get(reverse("admin:registry_revision_change", args=[revision.pk])).content.decode()
    assert "You proposed this change: another reviewer must decide on it." in detail
    response = client.post(
        reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve"}, follow=True
    )
    assert any("another reviewer must decide on it" in m for m in messages_of(response))
    revision.refresh_from_db()
    assert revision.status == models.RevisionStatus.PENDING
    licence.refresh_from_db()
    assert licence.reference_number == ""


def test_curator_cannot_approve(client, curator):
    licence = factories.LicenseFactory()
    url, data = change_page_data(as_user(client, factories.CuratorFactory()), licence)
    client.post(url, data | {"reference_number": "X-1", "change_reason": "Fix"})
    revision = models.Revision.objects.get()

    response = as_user(client, curator).post(
        reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve"}, follow=True
    )
    assert any("Only a reviewer" in m for m in messages_of(response))
    revision.refresh_from_db()
    assert revision.status == models.RevisionStatus.PENDING


def test_rejecting_needs_a_note_and_leaves_the_record(client, curator, reviewer):
    licence = factories.LicenseFactory()
    url, data = change_page_data(as_user(client, curator), licence)
    client.post(url, data | {"reference_number": "WRONG-9", "change_reason": "Typed from memory"})
    revision = models.Revision.objects.get()
    detail_url = reverse("admin:registry_revision_change", args=[revision.pk])

    response = as_user(client, reviewer).post(detail_url, {"decision": "reject", "note": ""}, follow=True)
    assert any("Say why the change is rejected" in m for m in messages_of(response))
    revision.refresh_from_db()
    assert revision.status == models.RevisionStatus.PENDING

    client.post(detail_url, {"decision": "reject", "note": "The register shows another number"})
    revision.refresh_from_db()
    assert (revision.status, revision.review_note) == ("rejected", "The register shows another number")
    page = client.get(detail_url).content.decode()
    assert f"Rejected — by {reviewer}" in page
    assert "<dt>Reviewer's note</dt><dd>The register shows another number</dd>" in page
    licence.refresh_from_db()
    assert licence.reference_number == ""
    assert "WRONG-9" not in client.get(f"/licenses/{licence.slug}/").content.decode()


def test_revisions_are_not_edited_by_hand(client, reviewer):
    assert as_user(client, reviewer).get(reverse("admin:registry_revision_add")).status_code == 403


def test_review_queue_lists_drafts_and_pending_revisions(client, curator, reviewer, parts):
    draft = draft_by(client, curator, parts)
    published = factories.LicenseFactory()
    url, data = change_page_data(client, published)
    client.post(url, data | {"reference_number": "Q-1", "change_reason": "From the register"})
    revision = models.Revision.objects.get()

    index = as_user(client, reviewer).get(reverse("admin:index")).content.decode()
    queue_url = reverse("admin:registry_revision_queue")
    assert queue_url in index
    queue = client.get(queue_url).content.decode()
    assert change_url(draft) in queue
    assert reverse("admin:registry_license_publish", args=[draft.pk]) in queue
    assert reverse("admin:registry_revision_change", args=[revision.pk]) in queue
    assert change_url(published) not in queue.split("Draft licences")[1].split("</section>")[0]

    changelist = client.get(reverse("admin:registry_revision_changelist"), {"status__exact": "pending"})
    assert list(changelist.context["cl"].result_list) == [revision]


# ---------------------------------------------------------------------------
# No lost edits
# ---------------------------------------------------------------------------


def test_concurrent_edit_is_refused_with_what_changed(client, curator, parts):
    licence = draft_by(client, curator, parts)
    other = factories.CuratorFactory()
    client_b = client.__class__()
    as_user(client_b, other)

    url, data_a = change_page_data(client, licence)
    _, data_b = change_page_data(client_b, licence)

    first = client_b.post(url, data_b | {"reference_number": "B-1", "change_reason": "B's fix"})
    assert first.status_code == 302, errors_of(first)

    second = client.post(url, data_a | {"reference_number": "A-1", "change_reason": "A's fix"})
    assert second.status_code == 200
    message = errors_of(second)
    assert "Someone else saved this record after you opened it" in message
    assert "reference_number" in message and "B-1" in message
    licence.refresh_from_db()
    assert licence.reference_number == "B-1"


def test_an_outdated_proposal_is_refused_too(client, curator, reviewer):
    licence = factories.LicenseFactory()
    url, stale = change_page_data(as_user(client, curator), licence)
    review_client = client.__class__()
    _, fresh = change_page_data(as_user(review_client, factories.ReviewerFactory()), licence)
    review_client.post(url, fresh | {"reference_number": "FIRST", "change_reason": "First"})
    revision = models.Revision.objects.get()
    as_user(review_client, reviewer).post(
        reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve"}
    )

    response = client.post(url, stale | {"conditions": "None stated", "change_reason": "Second"})
    assert response.status_code == 200
    assert "reference_number" in errors_of(response)
    assert models.Revision.objects.count() == 1


def test_deleting_a_regulator_with_licences_is_refused_with_the_list(client, reviewer):
    regulator = factories.RegulatorFactory(name="Malta Financial Services Authority")
    licence = factories.LicenseFactory(regulator=regulator)
    url = reverse("admin:registry_regulator_delete", args=[regulator.pk])
    as_user(client, reviewer)

    page = client.get(url).content.decode()
    assert "would require deleting the following protected related objects" in page
    assert str(licence) in page

    response = client.post(url, {"post": "yes", "change_reason": "Duplicate"})
    assert response.status_code == 200
    assert str(licence) in response.content.decode()
    assert models.Regulator.objects.filter(pk=regulator.pk).exists()


def test_a_reviewer_restores_a_deleted_licence_with_its_citations(client, curator, reviewer, second_reviewer):
    licence = factories.LicenseFactory(reference_number="R-7")
    licence.activities.add(factories.ActivityFactory())
    citation = licence.citations.get()
    pk = licence.pk
    as_user(client, reviewer).post(
        reverse("admin:registry_license_delete", args=[pk]), {"post": "yes", "change_reason": "Looked like a duplicate"}
    )
    assert not models.License.objects.filter(pk=pk).exists()

    deleted_url = reverse("admin:registry_license_deleted")
    page = as_user(client, curator).get(deleted_url)
    assert "Looked like a duplicate" in page.content.decode()
    row = page.context["entries"][0]["row"]
    restore_url = reverse("admin:registry_license_restore", args=[row.history_id])
    client.post(restore_url, {"reason": "Not a duplicate"})
    assert not models.License.objects.filter(pk=pk).exists()

    response = as_user(client, reviewer).post(restore_url, {"reason": "Not a duplicate after all"})
    assert response.status_code == 302
    restored = models.License.objects.get(pk=pk)
    assert restored.reference_number == "R-7"
    assert restored.publication_status == models.Publication.DRAFT
    assert restored.last_edited_by == reviewer
    assert restored.activities.count() == 1
    assert list(restored.citations.values_list("pk", "quote")) == [(citation.pk, citation.quote)]
    assert restored.history.first().history_change_reason == "Not a duplicate after all"
    assert not client.get(deleted_url).context["entries"]

    # It must be published again, by another reviewer.
    publish_action(client, restored)
    restored.refresh_from_db()
    assert not restored.is_published
    publish_action(as_user(client, second_reviewer), restored)
    assert models.License.objects.published().filter(pk=pk).exists()


# ---------------------------------------------------------------------------
# Freshness
# ---------------------------------------------------------------------------


def test_licences_not_verified_for_a_year_are_flagged(client, curator):
    today = timezone.localdate()
    stale = factories.LicenseFactory(reference_number="STALE-1", last_verified_on=today - datetime.timedelta(days=400))
    # Created 400 days ago and never checked since: creating it was its last check.
    never = factories.LicenseFactory(reference_number="NEVER-1")
    models.License.objects.filter(pk=never.pk).update(created_at=timezone.now() - datetime.timedelta(days=400))
    fresh = factories.LicenseFactory(reference_number="FRESH-1", last_verified_on=today - datetime.timedelta(days=30))
    url = reverse("admin:registry_license_changelist")
    as_user(client, curator)

    flagged = client.get(url, {"verification": "stale"})
    assert set(flagged.context["cl"].result_list) == {stale, never}
    assert set(client.get(url, {"verification": "fresh"}).context["cl"].result_list) == {fresh}

    html = client.get(url).content.decode()
    assert html.count('class="needs-verification"') == 2
    assert "needs verification" in html
    assert "Not verified against its sources in the last 12 months" in client.get(change_url(stale)).content.decode()
    assert "Not verified against its sources" not in client.get(change_url(fresh)).content.decode()


def test_curator_records_a_verification_on_a_draft(client, curator, parts):
    licence = draft_by(client, curator, parts)
    url, data = change_page_data(client, licence)
    today = timezone.localdate()
    response = client.post(url, data | {"last_verified_on": today.isoformat(), "change_reason": "Checked the register"})
    assert response.status_code == 302, errors_of(response)
    licence.refresh_from_db()
    assert licence.last_verified_on == today
    assert not models.License.objects.stale().filter(pk=licence.pk).exists()


def test_a_record_created_today_is_verified_today(client, curator, parts):
    """Adding a licence from its sources (the "last verified on" box left empty) is checking it; so is importing."""
    licence = draft_by(client, curator, parts)
    audit = factories.AuditFactory()
    overdue = factories.LicenseFactory(
        reference_number="OVERDUE-1", last_verified_on=timezone.localdate() - datetime.timedelta(days=395)
    )
    for record in (licence, audit):
        assert "Not verified against its sources" not in client.get(change_url(record)).content.decode()
        assert not type(record).objects.stale().filter(pk=record.pk).exists()
    assert "Not verified against its sources in the last 12 months" in client.get(change_url(overdue)).content.decode()
    assert list(models.License.objects.stale()) == [overdue]
    listed = client.get(reverse("admin:registry_license_changelist")).content.decode()
    assert listed.count('class="needs-verification"') == 1
    assert f"{timezone.localdate().day} {timezone.localdate():%B %Y} (created)" in listed


# ---------------------------------------------------------------------------
# Publishing what the public can see
# ---------------------------------------------------------------------------


def test_publishing_a_licence_whose_holder_is_a_draft_says_what_it_waits_for(client, reviewer):
    holder = factories.DraftEntityFactory(name="Draft Holder Ltd")
    licence = factories.DraftLicenseFactory(holder=holder)
    publish_url = reverse("admin:registry_license_publish", args=[licence.pk])

    page = as_user(client, reviewer).get(publish_url)
    assert [row["dependency"].record for row in page.context["dependencies"]] == [holder]
    assert "Draft Holder Ltd" in page.content.decode()

    # Published alone: the message says it is not public, and names (and links) what it waits for.
    response = client.post(publish_url, {"reason": "Checked"}, follow=True)
    message = messages_of(response)[0]
    assert "was published but is not public yet: it waits for holder" in message
    assert change_url(holder) in message
    assert "is now public" not in message
    assert client.get(f"/licenses/{licence.slug}/").status_code == 404
    page = client.get(change_url(licence)).content.decode()
    assert "View on site" not in page
    assert "Not public yet" in page

    # Its holder published by another reviewer: the licence is public, and the admin offers its page.
    response = publish_action(as_user(client, factories.ReviewerFactory()), holder)
    assert client.get(f"/licenses/{licence.slug}/").status_code == 200
    assert "View on site" in client.get(change_url(licence)).content.decode()


def test_the_publish_page_offers_the_drafts_to_publish_with_it_under_four_eyes(client, reviewer, second_reviewer):
    holder = factories.DraftEntityFactory(name="Draft Holder Ltd")
    regime = factories.DraftRegimeFactory(short_name="Draft Regime")
    regime.last_edited_by = reviewer
    regime.save()
    licence = factories.DraftLicenseFactory(holder=holder, license_type=factories.LicenseTypeFactory(regime=regime))
    publish_url = reverse("admin:registry_license_publish", args=[licence.pk])

    page = as_user(client, reviewer).get(publish_url)
    rows = {row["dependency"].record: row for row in page.context["dependencies"]}
    assert (rows[holder]["own"], rows[regime]["own"]) == (False, True)
    html = page.content.decode()
    assert "You made its last edit: another reviewer must publish it." in html
    assert page.context["form"]["together"].value() == [rows[holder]["key"]]

    # Ticking the regime it last edited refuses the whole action.
    keys = [rows[holder]["key"], rows[regime]["key"]]
    response = client.post(publish_url, {"reason": "", "together": keys}, follow=True)
    assert "Draft Regime" in messages_of(response)[0] and "Nothing was published" in messages_of(response)[0]
    holder.refresh_from_db()
    assert not holder.is_published

    # Another reviewer publishes all three together: the licence is public at once.
    response = as_user(client, second_reviewer).post(publish_url, {"reason": "", "together": keys}, follow=True)
    assert "was published and is now public" in messages_of(response)[0]
    assert licence.get_absolute_url() in messages_of(response)[0]
    assert models.License.objects.published().filter(pk=licence.pk).exists()


def test_the_publish_page_shows_the_content_and_its_differences_from_the_last_published_version(
    client, curator, reviewer
):
    licence = factories.LicenseFactory(reference_number="OLD-REF", conditions="No retail clients.")
    page = as_user(client, reviewer).get(reverse("admin:registry_license_publish", args=[licence.pk]))
    assert "It is already published." in page.content.decode()

    licence = review.unpublish(licence, reviewer=reviewer, reason="Reference under review")
    licence.reference_number = "NEW-REF"
    licence = review.save_edit(licence, user=curator, reason="Corrected reference", base_version=licence.version)
    page = client.get(reverse("admin:registry_license_publish", args=[licence.pk]))
    content = dict(page.context["content"])
    assert content["Reference number"] == "NEW-REF"
    assert content["Granted on"] == "March 2025"
    assert content["Conditions"] == "No retail clients."
    assert "obtained its licence" not in content["Citations"]  # sources, not quotes
    assert page.context["differences"] == [("Reference number", "OLD-REF", "NEW-REF")]
    html = page.content.decode()
    assert "Differences from the last published version" in html and "OLD-REF" in html


def test_bulk_publish_asks_first_listing_what_goes_live_and_what_stays_hidden(client, reviewer):
    ready = factories.DraftLicenseFactory()
    waiting = factories.DraftLicenseFactory(holder=factories.DraftEntityFactory(name="Not Yet Holder"))
    url = reverse("admin:registry_license_changelist")
    data = {"action": "publish", "_selected_action": [ready.pk, waiting.pk]}

    page = as_user(client, reviewer).post(url, data)
    assert page.status_code == 200
    groups = page.context["groups"]
    assert [entry["obj"] for entry in groups["live"]] == [ready]
    assert [entry["obj"] for entry in groups["hidden"]] == [waiting]
    assert "Not Yet Holder" in page.content.decode()
    assert not models.License.objects.filter(publication_status=models.Publication.PUBLISHED).exists()

    response = client.post(url, {**data, "confirm": "yes"}, follow=True)
    shown = " ".join(messages_of(response))
    assert "Published 2 records; 1 of them now public." in shown
    assert f"“{waiting}” was published but is not public yet: it waits for holder" in shown
    assert list(models.License.objects.published()) == [ready]


def test_action_messages_count_records_in_words(client, reviewer):
    ready = factories.DraftLicenseFactory()
    response = publish_action(as_user(client, reviewer), ready)
    assert "Published 1 record; it is now public." in messages_of(response)

    others = [factories.LicenseFactory(), factories.LicenseFactory()]
    url = reverse("admin:registry_license_changelist")
    data = {"action": "unpublish", "_selected_action": [o.pk for o in others], "confirm": "yes", "reason": "Wrong"}
    response = client.post(url, data, follow=True)
    assert "Returned 2 records to draft." in messages_of(response)
    response = client.post(url, {**data, "_selected_action": [ready.pk]}, follow=True)
    assert "Returned 1 record to draft." in messages_of(response)


def test_action_messages_say_why_each_record_was_left_alone(client, curator, reviewer):
    draft, published = factories.DraftLicenseFactory(), factories.LicenseFactory()
    url = reverse("admin:registry_license_changelist")
    both = {"_selected_action": [draft.pk, published.pk], "confirm": "yes", "reason": "Wrong"}

    shown = messages_of(as_user(client, curator).post(url, {**both, "action": "unpublish"}, follow=True))
    assert f"“{published}” was not returned to draft: Only a reviewer can publish or unpublish." in shown
    assert len(shown) == 2 and all("was not returned to draft" in m for m in shown)

    shown = messages_of(as_user(client, reviewer).post(url, {**both, "action": "publish"}, follow=True))
    assert shown == [f"“{published}” is already published.", "Published 1 record; it is now public."]
    shown = messages_of(client.post(url, {**both, "_selected_action": [draft.pk], "action": "unpublish"}, follow=True))
    assert shown == ["Returned 1 record to draft."]
    shown = messages_of(client.post(url, {**both, "action": "unpublish"}, follow=True))
    assert shown == [f"“{draft}” is already a draft.", "Returned 1 record to draft."]
    assert not models.License.objects.published().exists()


def test_a_curators_suspension_of_a_published_certificate_waits_for_a_second_reviewer(client, curator, reviewer):
    """Issue 17: a status change entered in the audit's inline is a revision; the public status moves on approval."""
    audit = factories.AuditFactory()
    notice = factories.SourceFactory(title="Certification body notice")
    url, data = change_page_data(as_user(client, curator), audit)
    data |= {
        "status_changes-TOTAL_FORMS": "1",
        "status_changes-0-status": models.StatusChange.SUSPENDED,
        "status_changes-0-effective_on_0": "2025",
        "status_changes-0-effective_on_1": "8",
        "status_changes-0-effective_on_2": "",
        "status_changes-0-reason": "Surveillance audit missed",
        "status_changes-0-source": notice.pk,
        "status_changes-0-quote": "The certificate was suspended in August 2025.",
        "status_changes-0-locator": "",
        "change_reason": "The certification body's notice",
    }
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    assert not audit.status_changes.exists()
    assert audit.status_on(datetime.date(2025, 9, 1)) == "current"

    revision = models.Revision.objects.get()
    as_user(client, reviewer).post(
        reverse("admin:registry_revision_change", args=[revision.pk]), {"decision": "approve"}
    )
    change = audit.status_changes.get()
    assert (str(change.effective), change.source, change.reason) == ("August 2025", notice, "Surveillance audit missed")
    assert audit.status_on(datetime.date(2025, 9, 1)) == "suspended"


def test_an_auditors_page_in_the_admin_edits_its_accreditations(client, reviewer):
    auditor = factories.AuditorFactory()
    page = as_user(client, reviewer).get(change_url(auditor))
    prefixes = [inline.formset.prefix for inline in page.context["inline_admin_formsets"]]
    assert "accreditations" in prefixes
    company = factories.EntityFactory()
    page = client.get(change_url(company))
    assert "accreditations" not in [inline.formset.prefix for inline in page.context["inline_admin_formsets"]]
