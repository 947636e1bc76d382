"""Conditional GET: public pages carry validators a CDN can use, unchanged pages answer 304, any edit changes them."""

import datetime

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

from curation import review
from operations import conditional_get
from registry.derived import version
from registry.models import EntityAlias, License, Publication
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def licence():
    holder = factories.EntityFactory(slug="okx", name="OKX")
    regime = factories.RegimeFactory(slug="mica", short_name="MiCA")
    return factories.LicenseFactory(
        slug="okx-mica-casp", holder=holder, license_type=factories.LicenseTypeFactory(regime=regime)
    )


PUBLIC_URLS = [
    "/licenses/?regime=mica&q=okx",
    "/licenses/okx-mica-casp/",
    "/entities/okx/",
    "/licenses.csv?regime=mica",
    "/licenses.json",
    "/api/licenses/?regime=mica",
    "/api/licenses/okx-mica-casp/",
    "/",
]


def body_of(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


class TestValidators:
    @pytest.mark.parametrize("url", PUBLIC_URLS)
    def test_public_responses_carry_validators_and_cdn_caching(self, client, licence, url):
        response = client.get(url)
        assert response.status_code == 200
        assert response["ETag"].startswith('W/"')
        assert response["Last-Modified"].endswith("GMT")
        cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"public", "max-age=60", "stale-while-revalidate=300"} <= cache_control

    @pytest.mark.parametrize("url", PUBLIC_URLS)
    def test_a_matching_if_none_match_answers_304_without_running_the_view(
        self, client, licence, url, django_assert_num_queries
    ):
        etag = client.get(url)["ETag"]
        with django_assert_num_queries(1):  # the data version, nothing else
            response = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert body_of(response) == b""
        assert response["ETag"] == etag
        assert "public" in response["Cache-Control"]

    def test_if_modified_since_answers_304_until_the_data_changes(self, client, licence):
        last_modified = client.get("/licenses/")["Last-Modified"]
        assert client.get("/licenses/", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
        earlier = http_date(timezone.now().timestamp() - 3 * 86400)
        assert client.get("/licenses/", HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200

    def test_a_stale_etag_gets_the_full_page(self, client, licence):
        response = client.get("/licenses/", HTTP_IF_NONE_MATCH='W/"not-the-current-one"')
        assert response.status_code == 200
        assert b"okx-mica-casp" in response.content

    def test_each_query_string_has_its_own_etag(self, client, licence):
        etags = {client.get(url)["ETag"] for url in ["/licenses/", "/licenses/?q=okx", "/licenses/?page=1"]}
        assert len(etags) == 3
        # Validators of one page never satisfy another.
        other = client.get("/licenses/?q=okx")["ETag"]
        assert client.get("/licenses/", HTTP_IF_NONE_MATCH=other).status_code == 200

    def test_the_etag_changes_at_midnight_when_in_force_may_change(self, rf):
        request = rf.get("/licenses/?in_force_on=")
        changed_at = timezone.now() - datetime.timedelta(days=3)
        today = timezone.localdate()
        etag_today, modified_today = conditional_get.validators(request, 7, changed_at, today=today)
        etag_tomorrow, modified_tomorrow = conditional_get.validators(
            request, 7, changed_at, today=today + datetime.timedelta(days=1)
        )
        assert etag_today != etag_tomorrow
        assert modified_tomorrow - modified_today == 86400

    def test_missing_records_are_not_cached_or_answered_304(self, client, licence):
        response = client.get("/licenses/no-such-licence/", HTTP_IF_NONE_MATCH="*")
        assert response.status_code == 404
        assert "ETag" not in response
        assert "public" not in response.get("Cache-Control", "")

    def test_admin_is_never_cached(self, admin_client, licence):
        for url in [reverse("admin:index"), reverse("admin:registry_license_changelist")]:
            response = admin_client.get(url)
            assert response.status_code == 200
            assert "ETag" not in response
            cache_control = response["Cache-Control"]
            assert "private" in cache_control
            assert "no-store" in cache_control
            assert "public" not in cache_control

    def test_the_api_schema_is_validated_without_the_database(self, client, django_assert_num_queries):
        etag = client.get("/api/schema/")["ETag"]
        with django_assert_num_queries(0):
            assert client.get("/api/schema/", HTTP_IF_NONE_MATCH=etag).status_code == 304

    def test_operational_and_file_pages_get_no_data_validators(self, client):
        assert "ETag" not in client.get("/healthz")
        assert "ETag" not in client.get("/data/")

    def test_every_register_table_raises_the_version(self):
        # A table added by a later migration needs its trigger installed by a migration (docs/derived-data.md).
        assert version.DATA_VERSION.differences(connection) == []

    def test_reads_leave_the_version_alone(self, client, licence):
        before = version.data_version()
        client.get("/licenses/")
        client.get("/api/licenses/")
        assert version.data_version() == before


@pytest.mark.django_db(transaction=True)
class TestEditsChangeTheEtag:
    """Each edit commits on its own here, as a request's does (PostgreSQL raises the version once per transaction)."""

    def test_edits_of_every_kind_change_the_etag(self, client, licence):
        url = "/licenses/?regime=mica"
        reviewer = factories.UserFactory(username="reviewer", is_superuser=True)
        author = factories.UserFactory(username="author", is_superuser=True)
        seen = [client.get(url)["ETag"]]

        def etag_changed():
            etag = client.get(url)["ETag"]
            changed = etag not in seen
            seen.append(etag)
            return changed

        draft = factories.DraftLicenseFactory(holder=licence.holder, license_type=licence.license_type)
        assert etag_changed(), "a new draft"
        review.publish(draft, reviewer=reviewer)
        assert etag_changed(), "publishing a licence"
        with transaction.atomic():  # as the admin calls it: the version check locks the row
            revision = review.propose(
                licence,
                author=author,
                reason="Reference from the register",
                base_version=licence.version,
                fields={"reference_number": "MFSA-1"},
            )
        seen.append(client.get(url)["ETag"])
        review.approve(revision, reviewer=reviewer)
        assert etag_changed(), "approving a revision"
        licence.holder.name = "OKX Europe"
        licence.holder.save()
        assert etag_changed(), "renaming the holder (another table)"
        EntityAlias.objects.create(entity=licence.holder, name="OKEx")
        assert etag_changed(), "an alias"
        licence.refresh_from_db()
        licence.passported_to.add(factories.JurisdictionFactory(code="DE"))
        assert etag_changed(), "a many-to-many change"
        history_row = licence.history.latest()
        history_row.history_change_reason = "Corrected reason"
        history_row.save()
        assert etag_changed(), "a history change"
        License.objects.filter(pk=draft.pk).update(status="revoked")
        assert etag_changed(), "a bulk update that bypasses save()"
        licence.citations.all().delete()
        assert etag_changed(), "removing the last citation (the licence leaves the public list)"

    def test_a_304_turns_into_a_200_after_an_edit(self, client, licence):
        etag = client.get("/licenses/okx-mica-casp/")["ETag"]
        assert client.get("/licenses/okx-mica-casp/", HTTP_IF_NONE_MATCH=etag).status_code == 304
        licence.conditions = "No retail clients."
        licence.save()
        response = client.get("/licenses/okx-mica-casp/", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200
        assert b"No retail clients." in response.content

    def test_a_draft_is_a_404_even_with_a_valid_looking_etag(self, client, licence):
        etag = client.get("/licenses/okx-mica-casp/")["ETag"]
        License.objects.filter(pk=licence.pk).update(publication_status=Publication.DRAFT)
        assert client.get("/licenses/okx-mica-casp/", HTTP_IF_NONE_MATCH=etag).status_code == 404


class TestRelease:
    """The release in every validator: the ``REGISTRY_RELEASE`` setting when a deployment names one."""

    @pytest.fixture(autouse=True)
    def fresh_release(self):
        conditional_get.release.cache_clear()
        yield
        conditional_get.release.cache_clear()

    def test_a_new_release_setting_changes_every_etag(self, client, licence, settings):
        settings.REGISTRY_RELEASE = "2026.12.1"
        etag = client.get("/licenses/")["ETag"]
        assert client.get("/licenses/", HTTP_IF_NONE_MATCH=etag).status_code == 304

        settings.REGISTRY_RELEASE = "2026.12.2"
        conditional_get.release.cache_clear()  # as a new deployment's workers start

        response = client.get("/licenses/", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200
        assert response["ETag"] != etag
        assert conditional_get.release() == "2026.12.2"
