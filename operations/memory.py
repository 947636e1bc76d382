"""A gunicorn worker's garbage collection: between requests, not inside them.

Every Django request leaves reference cycles behind (a class-based view and the ``head = get`` bound method
``View.setup`` gives it, a ``RequestContext`` and its ``ContextDict``, the request and its messages storage), so
what they reference, a page's context and model instances included, is freed only by the cyclic collector: about
2,700 objects per group page at N = 20,000. With CPython's default thresholds (700, 10, 10) that collector runs
inside requests, dozens of times per page, and now and then a full collection of everything the worker holds lands
on one of them: 10-45 ms, on about one request in 30. Served at N = 20,000, one client, cold, nine runs of each
setting alternating (docs/scaling.md), the median p95 of a group page went from 51.4 to 46.5 ms with this module,
an API list's from 27.6 to 21.8 ms.

So the worker collects after a response has been sent (gunicorn's ``post_request``, once enough has accumulated),
and inside a request only past a backstop far above what a page allocates, which bounds the memory a request
that allocates much more can hold. What the worker loaded before its first request is frozen out of every scan.
"""

import gc

# Collect after a response once this many container objects were allocated (net) since the last collection:
# a few pages' worth (a group page leaves about 2,700, a list page a few hundred).
BETWEEN_REQUESTS = 20_000
# Inside a request, collect only past this many (CPython's own default is 700).
BACKSTOP = 200_000


def start_worker() -> None:
    """Freeze what the worker holds as it starts (it lives as long as the worker) and raise the threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(BACKSTOP, 10, 10)


def after_response() -> None:
    """Collect what the last requests left, if enough has accumulated: the response is already sent."""
    if gc.get_count()[0] >= BETWEEN_REQUESTS:
        gc.collect()
