"""registry.prepared runs a statement compiled once with each call's values; on PostgreSQL it is prepared on the
server at its first run on a connection (config/settings.py). Every run must read its own values' rows, the first
(which prepares it) and the later ones (which run it prepared), and the query log (DEBUG, tests' query counts,
bench/floor.py) must hold each run as it can be run again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import prepared
from registry.models import Entity, License
from tests import factories

pytestmark = pytest.mark.django_db

# Several runs: the first prepares the statement on the server (psycopg's prepare_threshold, 0), the later ones
# run it prepared.
RUNS = 4


def by_pk(pk):
    return Entity.objects.filter(pk=pk).select_related("jurisdiction")


def licences_of(ids):
    return License.objects.filter(holder__in=prepared.IdList(ids)).order_by("pk").values_list("pk", flat=True)


def test_each_run_of_a_prepared_statement_reads_its_own_record():
    entities = factories.EntityFactory.create_batch(3)
    for _ in range(RUNS):
        for entity in entities:
            assert prepared.run(("test-by-pk",), by_pk, [entity.pk], Entity) == [entity]


@pytest.mark.parametrize("holders", [0, 1, 3], ids=["no holder", "one holder", "three holders"])
def test_a_list_of_ids_reads_the_rows_of_its_own_ids_on_every_run(holders):
    groups = [factories.LicenseFactory.create_batch(2) for _ in range(3)]
    for _ in range(RUNS):
        for start in range(len(groups)):
            holder_ids = [licences[0].holder_id for licences in groups[start : start + holders]]
            expected = list(License.objects.filter(holder__in=holder_ids).order_by("pk").values_list("pk", flat=True))
            ids = prepared.encoded(holder_ids, License)
            assert prepared.run(("test-licences-of",), licences_of, [ids], License) == expected


def test_the_query_log_holds_each_run_as_it_can_be_run_again():
    entity = factories.EntityFactory()
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as captured:
            prepared.run(("test-by-pk",), by_pk, [entity.pk], Entity)
        (query,) = captured.captured_queries
        with connection.cursor() as cursor:
            cursor.execute(query["sql"])
            assert [row[0] for row in cursor.fetchall()] == [entity.pk]


def test_every_run_passes_through_the_connections_execute_wrappers():
    """An operator's ``connection.execute_wrapper()`` (a timeout, a tracer) sees these statements as it sees the
    ORM's, however many times they have run."""
    entity = factories.EntityFactory()
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    for _ in range(RUNS):
        with connection.execute_wrapper(wrapper):
            assert prepared.run(("test-by-pk",), by_pk, [entity.pk], Entity) == [entity]
    assert len(seen) == RUNS
    assert all(entity.pk in params for params in seen)
