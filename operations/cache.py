"""The public pages' shared cache: diskcache's Django backend, kept open between requests."""

from diskcache import DjangoCache


class SharedDiskCache(DjangoCache):
    """diskcache's ``DjangoCache``: SQLite shards in one directory, shared by every gunicorn worker.

    Django closes every cache when a request finishes; for this one that closed and reopened eight SQLite
    connections a request, 2.7 ms of a 15 ms list page served from the cache. Its connections stay open for
    the life of the process instead: diskcache opens new ones in a forked child, and :meth:`disconnect`
    closes them before gunicorn forks (``operations.ops.warm_up``).
    """

    def close(self, **kwargs):
        """Keep the connections open between requests (see the class docstring)."""

    def disconnect(self):
        """Close the connections (before a fork); the next operation opens them again."""
        super().close()
