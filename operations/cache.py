"""The public pages' shared cache: diskcache's Django backend, kept open between requests, written after them."""

import threading

from diskcache import DjangoCache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.signals import request_finished, request_started

# What the current thread's request has stored, by (cache, key), until its response is sent; None outside one.
_request = threading.local()
# The keys whose writes may wait: derived data, which the data version or a digest names (public/views/lists.py,
# registry/derived/version.py, {% cache %} fragments); another worker missing it for a moment computes it again.
# Counters and state (DRF's throttle history, anything a next request must see) are stored at once.
DEFERRABLE = ("public:", "registry:", "template.cache.")


class SharedDiskCache(DjangoCache):
    """diskcache's ``DjangoCache``: SQLite shards in one directory, shared by every gunicorn worker.

    Django closes every cache when a request finishes; for this one that closed and reopened eight SQLite
    connections a request, 2.7 ms of a 15 ms list page served from the cache. Its connections stay open for
    the life of the process instead: diskcache opens new ones in a forked child, and :meth:`disconnect`
    closes them before gunicorn forks (``operations.ops.warm_up``).

    What a request stores of derived data (``DEFERRABLE``) is written once its response has been sent: each store
    is a transaction on a shard, which also culls expired entries (their files too), and the first page after a
    write stores two to eight values. Measured at N = 20,000, in process, as the time from the response's last
    byte to the end of the writes: home page p50 0.8 ms (p95 2.5), licence list 0.6, audit list 2.8 (p95 4.2).
    Until then the values are kept in memory, where the same request reads them back; Django's
    ``request_finished``, which the WSGI server sends by closing the response after its last byte, writes them.
    """

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, read=False, tag=None, retry=False):
        """Store, or give up (False) when a shard stays locked for ``DATABASE_TIMEOUT``; in a request, at its end.

        diskcache's writes retry a lock until it is free, however long that is: one stuck writer would hold up
        every page that writes to its shard. A page that could not store its value is computed again next time.
        """
        pending = getattr(_request, "writes", None)
        if pending is None or read or tag is not None or not key.startswith(DEFERRABLE):
            return super().set(key, value, timeout, version, read, tag, retry)
        pending[self, self.make_key(key, version)] = (key, value, timeout, version)
        return True

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, read=False, tag=None, retry=False):
        """Store unless present, or give up (False) when a shard stays locked, as :meth:`set`; at once."""
        if self._pending(key, version) is not None:
            return False
        return super().add(key, value, timeout, version, read, tag, retry)

    def get(self, key, default=None, version=None, read=False, expire_time=False, tag=False, retry=False):
        """What this request stored, else what the shard holds."""
        pending = self._pending(key, version)
        if pending is not None and not (read or expire_time or tag):
            return pending[1]
        return super().get(key, default, version, read, expire_time, tag, retry)

    def has_key(self, key, version=None):
        return self._pending(key, version) is not None or super().has_key(key, version)

    def delete(self, key, version=None, retry=True):
        pending = getattr(_request, "writes", None)
        if pending:
            pending.pop((self, self.make_key(key, version)), None)
        return super().delete(key, version, retry)

    def close(self, **kwargs):
        """Keep the connections open between requests (see the class docstring)."""

    def disconnect(self):
        """Close the connections (before a fork); the next operation opens them again."""
        super().close()

    def _pending(self, key, version):
        pending = getattr(_request, "writes", None)
        return pending.get((self, self.make_key(key, version))) if pending else None


def _defer_writes(**kwargs):
    _request.writes = {}


def _write_deferred(**kwargs):
    pending, _request.writes = getattr(_request, "writes", None), None
    for (cache, _made_key), (key, value, timeout, version) in (pending or {}).items():
        cache.set(key, value, timeout, version)


request_started.connect(_defer_writes, dispatch_uid="operations.cache.defer_writes")
request_finished.connect(_write_deferred, dispatch_uid="operations.cache.write_deferred")
