"""Four-eyes publishing, pending revisions and optimistic locking (curation.review)."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation import review
from registry import models
from tests import factories
from tests.factories import (
    CuratorFactory,
    DraftLicenseFactory,
    EntityFactory,
    LicenseFactory,
    ReviewerFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db


def draft_by(user, **kwargs):
    licence = DraftLicenseFactory(**kwargs)
    return review.save_edit(licence, user=user, reason="Added from the press release", base_version=licence.version)


def test_a_new_record_starts_as_a_draft_whoever_creates_it():
    reviewer = ReviewerFactory()
    entity = models.Entity(slug="new-exchange", name="New Exchange", kind="company", publication_status="published")
    review.save_edit(entity, user=reviewer, reason="New firm", is_new=True)
    entity.refresh_from_db()
    assert entity.publication_status == models.Publication.DRAFT
    assert entity.last_edited_by == reviewer
    assert not models.Entity.objects.published().filter(pk=entity.pk).exists()


def test_curator_cannot_publish():
    curator = CuratorFactory()
    licence = draft_by(CuratorFactory())
    assert not review.can_review(curator)
    with pytest.raises(PermissionDenied):
        review.publish(licence, reviewer=curator)
    licence.refresh_from_db()
    assert licence.publication_status == models.Publication.DRAFT


def test_reviewer_cannot_publish_their_own_edit():
    reviewer = ReviewerFactory()
    licence = draft_by(reviewer)
    with pytest.raises(PermissionDenied, match="another reviewer"):
        review.publish(licence, reviewer=reviewer)
    assert not models.License.objects.published().filter(pk=licence.pk).exists()


def test_superuser_is_held_to_four_eyes_too():
    boss = User.objects.create_superuser("boss", "boss@registry.example", "a-long-unused-password")
    licence = draft_by(boss)
    with pytest.raises(PermissionDenied):
        review.publish(licence, reviewer=boss)


def test_a_second_reviewer_puts_a_curators_draft_live():
    curator, reviewer = CuratorFactory(), ReviewerFactory()
    licence = draft_by(curator)
    review.publish(licence, reviewer=reviewer)
    licence.refresh_from_db()
    assert models.License.objects.published().filter(pk=licence.pk).exists()
    assert (licence.last_edited_by, licence.published_by) == (curator, reviewer)
    assert licence.history.first().history_change_reason == "Published after review"


def test_unpublish_needs_a_reviewer_and_a_reason():
    licence = LicenseFactory()
    with pytest.raises(PermissionDenied):
        review.unpublish(licence, reviewer=CuratorFactory(), reason="Wrong")
    with pytest.raises(ValidationError):
        review.unpublish(licence, reviewer=ReviewerFactory(), reason="")
    review.unpublish(licence, reviewer=ReviewerFactory(), reason="The regulator withdrew its notice")
    assert not models.License.objects.published().filter(pk=licence.pk).exists()


def test_a_published_record_cannot_be_saved_directly():
    licence = LicenseFactory()
    licence.reference_number = "X-1"
    with pytest.raises(PermissionDenied):
        review.save_edit(licence, user=ReviewerFactory(), reason="Fix", base_version=licence.version)
    licence.refresh_from_db()
    assert licence.reference_number == ""


def propose_reference(licence, author, reference="FSP-123"):
    return review.propose(
        licence,
        author=author,
        reason="Reference from the regulator's register",
        base_version=licence.version,
        fields={"reference_number": reference},
    )


def test_a_pending_revision_is_invisible_until_approved():
    licence = LicenseFactory()
    curator, reviewer = CuratorFactory(), ReviewerFactory()
    revision = propose_reference(licence, curator)

    public = models.License.objects.published().get(pk=licence.pk)
    assert public.reference_number == ""
    assert list(models.Revision.objects.pending()) == [revision]

    review.approve(revision, reviewer=reviewer)
    public = models.License.objects.published().get(pk=licence.pk)
    assert public.reference_number == "FSP-123"
    assert (public.last_edited_by, public.published_by) == (curator, reviewer)
    revision.refresh_from_db()
    assert (revision.status, revision.reviewer) == (models.RevisionStatus.APPROVED, reviewer)
    entry = public.history.first()
    assert entry.history_change_reason == "Reference from the regulator's register"
    assert [c.field for c in entry.diff_against(entry.prev_record).changes if c.field == "reference_number"] == [
        "reference_number"
    ]


def test_reviewer_cannot_approve_their_own_edit():
    reviewer = ReviewerFactory()
    revision = propose_reference(LicenseFactory(), reviewer)
    with pytest.raises(PermissionDenied):
        review.approve(revision, reviewer=reviewer)
    with pytest.raises(PermissionDenied):
        review.reject(revision, reviewer=reviewer, note="no")
    revision.refresh_from_db()
    assert revision.status == models.RevisionStatus.PENDING


def test_curator_cannot_approve():
    revision = propose_reference(LicenseFactory(), CuratorFactory())
    with pytest.raises(PermissionDenied):
        review.approve(revision, reviewer=CuratorFactory())


def test_rejecting_leaves_the_record_and_needs_a_note():
    licence = LicenseFactory()
    revision = propose_reference(licence, CuratorFactory())
    with pytest.raises(ValidationError):
        review.reject(revision, reviewer=ReviewerFactory(), note="")
    review.reject(revision, reviewer=ReviewerFactory(), note="The register shows another number")
    licence.refresh_from_db()
    assert licence.reference_number == ""
    with pytest.raises(ValidationError):
        review.approve(revision, reviewer=ReviewerFactory())


def test_a_proposal_needs_a_reason_and_a_change():
    licence = LicenseFactory()
    with pytest.raises(ValidationError):
        review.propose(licence, author=CuratorFactory(), reason="", base_version=licence.version, fields={"x": 1})
    with pytest.raises(ValidationError):
        review.propose(licence, author=CuratorFactory(), reason="Because", base_version=licence.version)


def test_concurrent_edit_is_refused_with_what_changed_in_between():
    curator_a, curator_b = CuratorFactory(), CuratorFactory()
    licence = draft_by(curator_a)
    opened_version = licence.version

    # Curator B saves first, from the same version.
    copy_b = models.License.objects.get(pk=licence.pk)
    copy_b.reference_number = "B-1"
    review.save_edit(copy_b, user=curator_b, reason="B's fix", base_version=opened_version)

    copy_a = models.License.objects.get(pk=licence.pk)
    copy_a.reference_number = "A-1"
    with pytest.raises(review.ConflictError) as excinfo:
        review.save_edit(copy_a, user=curator_a, reason="A's fix", base_version=opened_version)
    assert "reference_number" in str(excinfo.value)
    assert "B-1" in str(excinfo.value)
    licence.refresh_from_db()
    assert licence.reference_number == "B-1"


def test_approval_is_refused_when_the_record_changed_after_the_proposal():
    licence = LicenseFactory()
    first = propose_reference(licence, CuratorFactory(), "ONE")
    second = propose_reference(licence, CuratorFactory(), "TWO")
    review.approve(first, reviewer=ReviewerFactory())
    with pytest.raises(review.ConflictError, match="reference_number"):
        review.approve(second, reviewer=ReviewerFactory())
    licence.refresh_from_db()
    assert licence.reference_number == "ONE"


def test_approving_applies_many_to_many_and_inline_changes():
    licence = LicenseFactory()
    old_citation = licence.citations.get()
    new_source = SourceFactory()
    other_holder = EntityFactory()
    revision = review.propose(
        licence,
        author=CuratorFactory(),
        reason="Holder is the local subsidiary; cite the regulator",
        base_version=licence.version,
        fields={"holder_id": other_holder.pk, "granted_on": "2025-03-14", "granted_on_precision": "day"},
        inlines={
            "registry.LicenseCitation": {
                "create": [
                    {"source_id": new_source.pk, "quote": "licensed on 14 March 2025", "supports": "granted_on"}
                ],
                "delete": [old_citation.pk],
            }
        },
    )
    rows = review.describe(licence, revision.changes)
    assert ("holder", str(licence.holder), str(other_holder)) in rows
    review.approve(revision, reviewer=ReviewerFactory())
    licence.refresh_from_db()
    assert licence.holder == other_holder
    assert licence.granted_on == datetime.date(2025, 3, 14)
    assert [(c.source, c.supports) for c in licence.citations.all()] == [(new_source, "granted_on")]
    assert models.LicenseCitation.history.filter(history_type="-", id=old_citation.pk).exists()


def test_the_database_refuses_self_publication_whatever_the_code_path():
    curator = CuratorFactory()
    licence = draft_by(curator)
    licence.publication_status = models.Publication.PUBLISHED
    licence.published_by = curator
    with pytest.raises(ValidationError, match="cannot be published by the account that last edited it"):
        licence.full_clean()


def test_roles_survive_a_flush(transactional_db):
    """A flush (what a browser test's teardown does) empties auth tables; the roles come back with post_migrate."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    reviewers = Group.objects.get(name="reviewers")
    assert reviewers.permissions.filter(codename="review").exists()
    assert Group.objects.get(name="curators").permissions.filter(codename="change_license").exists()
    assert not Group.objects.get(name="curators").permissions.filter(codename="review").exists()


# ---------------------------------------------------------------------------
# Publishing with the drafts a record waits for
# ---------------------------------------------------------------------------

DRAFT, PUBLISHED = models.Publication.DRAFT, models.Publication.PUBLISHED
STATE = st.sampled_from([DRAFT, PUBLISHED])
OPTIONAL = st.sampled_from([None, DRAFT, PUBLISHED])


def build_record(kind, named, sources):
    """A draft ``kind`` record whose named records and cited sources are in the states asked.

    ``named["optional"]`` is the state of the record it may name (a regulator, an auditor), None for none.
    """
    entity = EntityFactory(publication_status=named["entity"])
    cited = [SourceFactory(publication_status=state) for state in sources]
    if kind == "license":
        regulator = named["optional"] and factories.RegulatorFactory(publication_status=named["optional"])
        licence_type = factories.LicenseTypeFactory(regime=factories.RegimeFactory(publication_status=named["regime"]))
        return DraftLicenseFactory(
            holder=entity, license_type=licence_type, regulator=regulator or None, citations=cited
        )
    if kind == "audit":
        auditor = named["optional"] and factories.AuditorFactory(publication_status=named["optional"])
        return factories.DraftAuditFactory(subject=entity, auditor=auditor or None, citations=cited)
    if kind == "keyperson":
        return factories.KeyPersonFactory(entity=entity, publication_status=DRAFT)
    regulator = named["optional"] and factories.RegulatorFactory(publication_status=named["optional"])
    return models.WarningNotice.objects.create(
        slug=f"warning-{entity.slug}",
        entity=entity,
        regulator=regulator or None,
        jurisdiction=entity.jurisdiction or factories.JurisdictionFactory(),
        source=cited[0],
    )


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(models.VISIBILITY_RULES)),
    named=st.fixed_dictionaries({"entity": STATE, "regime": STATE, "optional": OPTIONAL}),
    sources=st.lists(STATE, min_size=1, max_size=3),
)
def test_publishing_what_a_record_waits_for_makes_it_public(reviewer, kind, named, sources):
    """Over every model with a visibility rule: the drafts listed are exactly what keeps it off the public site."""
    record = build_record(kind, named, sources)
    model = type(record)
    waiting = review.draft_dependencies(record)
    assert all(not dependency.record.is_published for dependency in waiting)
    assert review.becomes_public(record) == (waiting == [])
    assert review.becomes_public(record, [dependency.record for dependency in waiting])

    review.publish(record, reviewer=reviewer)
    assert model.objects.published().filter(pk=record.pk).exists() == (waiting == [])
    for dependency in waiting:
        review.publish(dependency.record, reviewer=reviewer)
    assert model.objects.published().filter(pk=record.pk).exists()
    if hasattr(model.objects, "by_rule"):
        assert model.objects.by_rule().filter(pk=record.pk).exists()


def test_publish_puts_the_chosen_drafts_live_first_in_one_transaction(reviewer):
    holder = factories.DraftEntityFactory(name="Waiting Holder")
    source = factories.DraftSourceFactory(title="Waiting source")
    licence = DraftLicenseFactory(holder=holder, citations=[source])
    assert [(d.role, d.record) for d in review.draft_dependencies(licence)] == [("holder", holder), ("source", source)]

    review.publish(licence, reviewer=reviewer, reason="All checked", together=[holder, source])
    assert models.License.objects.published().filter(pk=licence.pk).exists()
    for record in (holder, source, licence):
        record.refresh_from_db()
        assert (record.publication_status, record.published_by) == (PUBLISHED, reviewer)
    assert holder.history.latest().history_date < licence.history.latest().history_date
    assert holder.history.latest().history_change_reason == f"Published with “{licence}”: All checked"


def test_publish_refuses_the_whole_action_when_the_reviewer_last_edited_a_draft_it_waits_for(reviewer):
    holder = review.save_edit(
        factories.DraftEntityFactory(name="Edited By Me"), user=reviewer, reason="Typo", base_version=1
    )
    regime = factories.DraftRegimeFactory()
    licence = DraftLicenseFactory(holder=holder, license_type=factories.LicenseTypeFactory(regime=regime))
    with pytest.raises(PermissionDenied, match="Edited By Me"):
        review.publish(licence, reviewer=reviewer, together=[regime, holder])
    for record in (holder, regime, licence):
        record.refresh_from_db()
        assert record.publication_status == DRAFT
    with pytest.raises(ValidationError, match="not a draft this record waits for"):
        review.publish(licence, reviewer=reviewer, together=[factories.DraftEntityFactory()])


def test_a_dependant_that_goes_public_gets_a_history_row_with_its_many_to_many_sets(reviewer):
    holder = factories.DraftEntityFactory(name="Holder Published Later")
    licence = LicenseFactory(holder=holder)
    licence.activities.add(factories.ActivityFactory(name="Custody"))
    version = licence.version
    rows_before = licence.history.count()

    review.publish(holder, reviewer=reviewer)
    licence.refresh_from_db()
    assert licence.version == version  # not saved: an editor's open copy stays valid
    assert licence.history.count() == rows_before + 1
    row = licence.history.latest()
    assert row.history_change_reason == "Public since “Holder Published Later” was published"
    assert [item.activity.name for item in row.activities.all()] == ["Custody"]


def test_publishing_a_source_gives_every_record_it_makes_public_a_history_row(reviewer, monkeypatch):
    monkeypatch.setattr(review, "BATCH_SIZE", 2)  # several batches, without hundreds of records
    source = factories.DraftSourceFactory(title="Official register extract")
    licences = [LicenseFactory(citations=[source]) for _ in range(3)]
    audits = [factories.AuditFactory(citations=[source]) for _ in range(2)]
    assert not models.License.objects.published().exists()

    review.publish(source, reviewer=reviewer)
    assert models.License.objects.published().count() == 3
    assert models.Audit.objects.published().count() == 2
    for record in [*licences, *audits]:
        assert record.history.latest().history_change_reason == "Public since “Official register extract” was published"


def test_the_refusal_shown_before_publishing_is_the_one_publishing_raises(reviewer):
    licence = LicenseFactory()
    published_by = licence.published_by_id
    assert review.publish_refusal(licence, reviewer) == "It is already published."
    with pytest.raises(ValidationError, match="It is already published."):
        review.publish(licence, reviewer=reviewer)
    assert review.publish_refusal(licence, CuratorFactory()) == "Only a reviewer can publish or unpublish."
    draft = DraftLicenseFactory()
    assert review.unpublish_refusal(draft, reviewer) == "It is a draft already."
    with pytest.raises(ValidationError, match="It is a draft already."):
        review.unpublish(draft, reviewer=reviewer, reason="Wrong firm")
    licence.refresh_from_db()
    assert licence.published_by_id == published_by


def test_only_a_reviewer_restores_a_deleted_record_and_only_once(reviewer):
    licence = LicenseFactory(reference_number="R-9")
    citation = licence.citations.get()
    licence._change_reason = "Duplicate"
    licence.delete()
    row = models.License.history.get(history_type="-")
    assert review.deleted_records(models.License) == [row]

    with pytest.raises(PermissionDenied, match="Only a reviewer"):
        review.restore(row, user=CuratorFactory(), reason="Not a duplicate")
    with pytest.raises(ValidationError, match="Say why"):
        review.restore(row, user=reviewer, reason="")
    restored, skipped = review.restore(row, user=reviewer, reason="Not a duplicate")
    assert (restored.reference_number, restored.publication_status) == ("R-9", models.Publication.DRAFT)
    assert list(restored.citations.values_list("pk", flat=True)) == [citation.pk] and skipped == []
    assert review.deleted_records(models.License) == []
    with pytest.raises(ValidationError, match="restored before"):
        review.restore(row, user=reviewer, reason="Again")


def test_an_operator_publishes_without_a_reviewer_and_what_goes_public_with_it_is_dated():
    importer = CuratorFactory(username="an-importer")
    holder = factories.DraftEntityFactory(name="Imported Holder", last_edited_by=importer)
    licence = LicenseFactory(holder=holder)
    rows_before = licence.history.count()
    with pytest.raises(ValidationError, match="Say why"):
        review.publish_as_operator([holder], reason="", user=importer)

    review.publish_as_operator([holder], reason="ESMA snapshot (operator's --publish)", user=importer)
    holder.refresh_from_db()
    assert (holder.is_published, holder.published_by, holder.last_edited_by) == (True, None, importer)
    assert holder.history.latest().history_change_reason == "ESMA snapshot (operator's --publish)"
    assert models.License.objects.published().filter(pk=licence.pk).exists()
    assert licence.history.count() == rows_before + 1
    assert licence.history.latest().history_change_reason == "Public since “Imported Holder” was published"


def test_a_register_confirming_a_record_moves_its_verification_date_forward_and_leaves_open_edits_valid():
    importer = CuratorFactory(username="an-importer")
    licence = LicenseFactory(last_verified_on=datetime.date(2026, 1, 1))
    draft = DraftLicenseFactory(last_verified_on=None)
    revision = review.propose(
        licence, author=CuratorFactory(), reason="Typo", base_version=licence.version, fields={"conditions": "None."}
    )
    rows_before = licence.history.count()

    day = datetime.date(2026, 2, 1)
    moved = review.confirm_verified(models.License, [licence.pk, draft.pk], day, user=importer, reason="Snapshot")
    assert sorted(moved) == sorted([licence.pk, draft.pk])
    licence.refresh_from_db()
    draft.refresh_from_db()
    assert (licence.last_verified_on, draft.last_verified_on) == (day, day)
    assert licence.is_published and not draft.is_published
    # The as-of view and the change feed read the history: a row dates the new verification.
    assert licence.history.count() == rows_before + 1
    assert (licence.history.latest().last_verified_on, licence.history.latest().history_change_reason) == (
        day,
        "Snapshot",
    )
    # Not an edit: the curator's change, proposed before, still applies.
    review.approve(revision, reviewer=ReviewerFactory())
    licence.refresh_from_db()
    assert licence.conditions == "None." and licence.last_verified_on == day
    # An earlier listing never moves the date back.
    assert (
        review.confirm_verified(models.License, [licence.pk], datetime.date(2026, 1, 15), user=importer, reason="Old")
        == []
    )
    licence.refresh_from_db()
    assert licence.last_verified_on == day
