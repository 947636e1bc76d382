"""The cache of derived data is one that every worker process shares (config/settings.py CACHES)."""

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.signals import request_finished

ROOT = Path(__file__).resolve().parents[2]

READ = "from django.core.cache import cache; print(cache.get({key!r}))"


def read_in_another_process(key):
    return (
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "shell", "-c", READ.format(key=key)],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )


@pytest.mark.slow
def test_what_one_worker_caches_is_a_hit_in_another():
    key = f"test:shared:{uuid.uuid4().hex}"
    cache.set(key, "computed once")
    assert read_in_another_process(key) == "computed once"


def test_the_cache_still_answers_after_a_request_finishes():
    key = f"test:after-request:{uuid.uuid4().hex}"
    cache.set(key, 1)
    request_finished.send(sender=None)
    assert cache.get(key) == 1
    cache.set(key, 2)
    assert cache.get(key) == 2


def test_a_page_does_not_wait_for_a_cache_another_process_keeps_locked(settings):
    """A stuck writer elsewhere costs a page a miss (computed again next time), never its response."""
    for number in range(64):  # opens every shard's file
        cache.set(f"test:opens-the-shards:{number}", number)
    shards = sorted(Path(settings.CACHES["default"]["LOCATION"]).glob("*/cache.db"))
    assert len(shards) == settings.CACHES["default"]["SHARDS"]
    holders = [sqlite3.connect(shard, isolation_level=None) for shard in shards]
    try:
        for holder in holders:
            holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        stored = cache.set(f"test:locked:{uuid.uuid4().hex}", "value")
        assert (stored, time.monotonic() - started < 5) == (False, True)
    finally:
        for holder in holders:
            holder.close()
    key = f"test:unlocked:{uuid.uuid4().hex}"
    cache.set(key, "value")
    assert cache.get(key) == "value"


def test_what_a_request_stores_reaches_other_workers_once_its_response_is_sent():
    """A page's cache writes wait until its response has gone (request_finished): its own later reads see them
    at once, another worker only afterwards, and a write outside a request is stored at once."""
    from django.core.cache import caches
    from django.core.signals import request_started

    key = f"public:test-deferred:{uuid.uuid4().hex}"
    other_worker = caches.create_connection("default")
    request_started.send(sender=None)
    try:
        assert cache.set(key, "computed") is True
        assert (cache.get(key), cache.has_key(key), cache.get_many([key])) == ("computed", True, {key: "computed"})
        assert cache.add(key, "again") is False
        assert other_worker.get(key) is None
    finally:
        request_finished.send(sender=None)
    assert other_worker.get(key) == "computed"

    outside = f"public:test-outside-request:{uuid.uuid4().hex}"
    cache.set(outside, "at once")
    assert other_worker.get(outside) == "at once"


def test_a_value_deleted_in_the_same_request_is_never_stored():
    from django.core.cache import caches
    from django.core.signals import request_started

    key = f"public:test-deleted:{uuid.uuid4().hex}"
    request_started.send(sender=None)
    try:
        cache.set(key, "stale")
        cache.delete(key)
        assert cache.get(key) is None
    finally:
        request_finished.send(sender=None)
    assert caches.create_connection("default").get(key) is None


def test_counters_such_as_a_rate_limit_are_stored_at_once_even_in_a_request():
    """Only derived data may wait: a throttle's history must reach the next request whichever worker serves it."""
    from django.core.cache import caches
    from django.core.signals import request_started

    key = f"throttle_verify_{uuid.uuid4().hex}"
    request_started.send(sender=None)
    try:
        cache.set(key, [1.0])
        assert caches.create_connection("default").get(key) == [1.0]
    finally:
        request_finished.send(sender=None)
