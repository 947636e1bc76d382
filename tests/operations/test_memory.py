"""A gunicorn worker collects the garbage requests leave after its responses, not inside its requests."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a process of its own: the probe changes the collector's thresholds and freezes the heap, as a worker does.
PROBE = """
import gc, json, runpy, weakref

hooks = runpy.run_path("config/gunicorn.conf.py")
from operations.memory import BETWEEN_REQUESTS, start_worker

start_worker()  # what post_worker_init does after the warm-up (without a database to warm up from)
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))


class Row:
    pass


def request(objects):
    # What a page leaves behind: objects in reference cycles, which only the cyclic collector frees.
    left = []
    for _ in range(objects):
        row = Row()
        row.itself = row
        left.append(weakref.ref(row))
    return left


def response_sent():
    hooks["post_request"](None, None, {}, None)


first = request(BETWEEN_REQUESTS // 4)
during = len(collections)
response_sent()
kept_after_one = sum(ref() is not None for ref in first)
rest = request(BETWEEN_REQUESTS)
during += len(collections)
response_sent()
print(json.dumps({
    "collections during requests": during,
    "left after one small request": kept_after_one,
    "left after enough had accumulated": sum(ref() is not None for ref in first + rest),
}))
"""


def test_a_worker_frees_what_requests_leave_after_its_responses_and_never_inside_a_request():
    """Django's requests leave reference cycles (a page's context and model instances hang from them). A worker
    frees them once a few pages' worth has accumulated, after a response is sent (gunicorn's post_request), so no
    collection lands inside a request; CPython's default thresholds would run one every 700 allocations."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == {
        "collections during requests": 0,
        "left after one small request": 5_000,
        "left after enough had accumulated": 0,
    }
