"""The read-replica router: public reads from the replica, writes and the admin from the primary.

Two throwaway SQLite files stand in for the primary and its replica (whatever
backend the suite runs on), so a read that went to the wrong one is visible:
the "replica" holds a row the primary lacks, and the other way round.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connections, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from operations import routers
from registry.models import Entity, Jurisdiction

PRIMARY = "router_test_primary"
REPLICA = "router_test_replica"
BASE_DIR = Path(__file__).resolve().parents[2]


class RouterUnderTest(routers.ReplicaRouter):
    primary = PRIMARY
    replica = REPLICA


@pytest.fixture
def databases(tmp_path, django_db_blocker):
    """A primary and a replica, each with the jurisdictions table; removed afterwards."""
    configured = connections.configure_settings(
        {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            PRIMARY: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "primary.sqlite3")},
            REPLICA: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "replica.sqlite3")},
        }
    )
    for alias in (PRIMARY, REPLICA):
        connections.settings[alias] = configured[alias]
    # Signalling the end of a request would also make Django check the test database's connection.
    request_finished.disconnect(close_old_connections)
    # Each test starts, and leaves, outside any request (a RequestFactory request never "finishes").
    request_finished.send(sender=None)
    with django_db_blocker.unblock():
        for alias in (PRIMARY, REPLICA):
            with connections[alias].schema_editor() as editor:
                editor.create_model(Jurisdiction)
        yield RouterUnderTest()
        request_finished.send(sender=None)
        for alias in (PRIMARY, REPLICA):
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]
    request_finished.connect(close_old_connections)


def codes(alias):
    return set(Jurisdiction.objects.using(alias).values_list("code", flat=True))


class TestRules:
    def test_reads_outside_a_request_use_the_primary(self, databases):
        # Management commands and the shell read what they are about to write.
        assert databases.db_for_read(Entity) == PRIMARY

    def test_public_requests_read_from_the_replica_private_ones_from_the_primary(self, databases):
        with routers.routing(public=True):
            assert databases.db_for_read(Entity) == REPLICA
        with routers.routing(public=False):
            assert databases.db_for_read(Entity) == PRIMARY

    def test_writes_always_go_to_the_primary_and_later_reads_follow(self, databases):
        with routers.routing(public=True):
            assert databases.db_for_write(Entity) == PRIMARY
            # The request wrote: it must read its own write, which the replica may not have yet.
            assert databases.db_for_read(Entity) == PRIMARY

    def test_reads_inside_a_transaction_on_the_primary_stay_there(self, databases):
        with routers.routing(public=True), transaction.atomic(using=PRIMARY):
            assert databases.db_for_read(Entity) == PRIMARY

    def test_related_objects_come_from_their_instance_s_database(self, databases):
        instance = Jurisdiction(code="MT", name="Malta", kind="country")
        instance._state.db = PRIMARY
        with routers.routing(public=True):
            assert databases.db_for_read(Jurisdiction, instance=instance) == PRIMARY

    def test_use_primary_overrides_a_public_request(self, databases):
        with routers.routing(public=True), routers.use_primary():
            assert databases.db_for_read(Entity) == PRIMARY

    def test_no_replica_configured_means_the_primary(self):
        class Unconfigured(routers.ReplicaRouter):
            replica = "no-such-database"

        with routers.routing(public=True):
            assert Unconfigured().db_for_read(Entity) == routers.PRIMARY

    def test_migrations_never_run_on_the_replica(self, databases):
        assert databases.allow_migrate(REPLICA, "registry") is False
        assert databases.allow_migrate(PRIMARY, "registry") is None

    def test_objects_of_either_database_may_be_related(self, databases):
        one, other = Jurisdiction(code="MT"), Jurisdiction(code="DE")
        one._state.db, other._state.db = PRIMARY, REPLICA
        assert databases.allow_relation(one, other) is True


class TestMiddleware:
    def seen_by_view(self, request, db_router):
        seen = {}

        def view(request):
            seen["read"] = db_router.db_for_read(Entity)
            return HttpResponse("ok")

        routers.ReplicaRoutingMiddleware(view)(request)
        return seen["read"]

    def test_get_and_head_of_public_pages_are_public(self, databases):
        factory = RequestFactory()
        assert self.seen_by_view(factory.get("/licenses/"), databases) == REPLICA
        assert self.seen_by_view(factory.head("/api/licenses/"), databases) == REPLICA

    def test_the_admin_and_writes_use_the_primary(self, databases):
        factory = RequestFactory()
        assert self.seen_by_view(factory.get("/admin/registry/license/"), databases) == PRIMARY
        assert self.seen_by_view(factory.post("/admin/registry/license/add/"), databases) == PRIMARY
        assert self.seen_by_view(factory.post("/api/licenses/"), databases) == PRIMARY

    def test_a_streamed_response_keeps_its_routing_until_it_is_closed(self, databases):
        routers.ReplicaRoutingMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().get("/licenses.csv"))
        # The CSV rows are read while the body streams, after the middleware has returned.
        assert databases.db_for_read(Entity) == REPLICA
        request_finished.send(sender=None)
        assert databases.db_for_read(Entity) == PRIMARY


class TestWithTwoDatabases:
    def test_public_reads_see_the_replica_writes_land_on_the_primary(self, databases):
        Jurisdiction.objects.using(REPLICA).create(code="SG", name="Singapore", kind="country")
        with override_settings(DATABASE_ROUTERS=[databases]):
            with routers.routing(public=False):
                Jurisdiction.objects.create(code="MT", name="Malta", kind="country")
            assert codes(PRIMARY) == {"MT"}
            assert codes(REPLICA) == {"SG"}
            with routers.routing(public=True):
                assert list(Jurisdiction.objects.values_list("code", flat=True)) == ["SG"]
            with routers.routing(public=False):
                assert list(Jurisdiction.objects.values_list("code", flat=True)) == ["MT"]
            with routers.routing(public=True):
                Jurisdiction.objects.create(code="DE", name="Germany", kind="country")
                # Having written, the request reads the primary: its own write is there.
                assert set(Jurisdiction.objects.values_list("code", flat=True)) == {"MT", "DE"}
        assert router.db_for_read(Entity) == "default"


def settings_with(env):
    """DATABASES, routers and middleware as config/settings.py builds them under ``env``."""
    script = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps({'databases': {k: [v['ENGINE'], v.get('TEST', {}).get('MIRROR')]"
        " for k, v in settings.DATABASES.items()},"
        " 'routers': settings.DATABASE_ROUTERS, 'middleware': settings.MIDDLEWARE}))"
    )
    environ = {key: value for key, value in os.environ.items() if key != "DATABASE_REPLICA_URL"}
    environ.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_LOG_LEVEL="ERROR", **env)
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", script], cwd=BASE_DIR, env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


class TestSettings:
    def test_a_replica_url_adds_the_replica_the_router_and_the_middleware(self, tmp_path):
        configured = settings_with({"DATABASE_REPLICA_URL": f"sqlite:///{tmp_path / 'replica.sqlite3'}"})
        assert configured["databases"]["replica"] == ["django.db.backends.sqlite3", "default"]
        assert configured["routers"] == ["operations.routers.ReplicaRouter"]
        assert configured["middleware"][0] == "operations.routers.ReplicaRoutingMiddleware"
        assert configured["middleware"].index("operations.conditional_get.DataVersionETagMiddleware") > 0

    def test_without_it_everything_uses_the_one_database(self):
        configured = settings_with({})
        assert list(configured["databases"]) == ["default"]
        assert configured["routers"] == []
        assert "operations.routers.ReplicaRoutingMiddleware" not in configured["middleware"]
