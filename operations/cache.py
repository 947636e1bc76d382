"""The public pages' shared cache: diskcache's Django backend, kept open between requests."""

from diskcache import DjangoCache
from django.core.cache.backends.base import DEFAULT_TIMEOUT


class SharedDiskCache(DjangoCache):
    """diskcache's ``DjangoCache``: SQLite shards in one directory, shared by every gunicorn worker.

    Django closes every cache when a request finishes; for this one that closed and reopened eight SQLite
    connections a request, 2.7 ms of a 15 ms list page served from the cache. Its connections stay open for
    the life of the process instead: diskcache opens new ones in a forked child, and :meth:`disconnect`
    closes them before gunicorn forks (``operations.ops.warm_up``).
    """

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, read=False, tag=None, retry=False):
        """Store, or give up (False) when a shard stays locked for ``DATABASE_TIMEOUT``.

        diskcache's writes retry a lock until it is free, however long that is: one stuck writer would hold up
        every page that writes to its shard. A page that could not store its value is computed again next time.
        """
        return super().set(key, value, timeout, version, read, tag, retry)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, read=False, tag=None, retry=False):
        """Store unless present, or give up (False) when a shard stays locked, as :meth:`set`."""
        return super().add(key, value, timeout, version, read, tag, retry)

    def close(self, **kwargs):
        """Keep the connections open between requests (see the class docstring)."""

    def disconnect(self):
        """Close the connections (before a fork); the next operation opens them again."""
        super().close()
