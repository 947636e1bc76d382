"""A page rendered in-process with the SQL it runs captured: what bench/floor.py and bench/queries.py each time.

Imported by those scripts once Django is set up (they put bench/ on the path by running from it).
"""

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext


def captured_get(client, path):
    """``client.get(path)`` with a streaming body read to the end (an export's time is in its body).

    Returns the response, the statements it ran (CaptureQueriesContext's dicts: ``sql``, ``time``) and the
    milliseconds it took.
    """
    # The log is a deque of at most 9,000 statements: once full, CaptureQueriesContext's before/after lengths are
    # equal and it captures nothing. Emptied before each page, it never fills.
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(path)
        if getattr(response, "streaming", False):
            for _ in response.streaming_content:
                pass
        elapsed = (time.perf_counter() - started) * 1000
    return response, captured.captured_queries, elapsed
