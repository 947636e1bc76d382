import json
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from tests import factories

# Playwright's sync API runs an event loop in the test thread; Django refuses
# ORM calls from such a thread unless told it is safe (live_server tests).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SEED_SUBDIVISIONS = {"AE-DU"}

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Keep SQLite's test database in a file, so every thread opens its own connection to it.

    Django's default in-memory test database makes the live server's request threads share the test
    thread's one connection. Two threads on one sqlite3 connection deadlock for good as soon as one runs a
    Python SQL function (Django's date functions, say) while the other binds a parameter: the first holds
    SQLite's connection mutex and waits for the GIL, the second holds the GIL and waits for the mutex. That
    hung a browser test, and CI with it, until CI's time ran out.
    """
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        settings_dict.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    else:
        # A statement the test database holds up for a minute (a lock no one releases, a runaway plan) fails,
        # naming its SQL, instead of waiting as long as CI lets it.
        options = settings_dict.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c statement_timeout=60s -c lock_timeout=60s".strip()


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Each run caches in a folder of its own, never the served site's (var/cache) nor an earlier run's.

    The cache is shared through files (config/settings.py); the processes a test starts read the same folder.
    """
    from django.conf import settings
    from django.test import override_settings

    folder = str(tmp_path_factory.mktemp("cache"))
    os.environ["DJANGO_CACHE_DIR"] = folder
    with override_settings(CACHES={"default": {**settings.CACHES["default"], "LOCATION": folder}}):
        yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive Debian's chromium: Playwright cannot download its own browser here."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# ESMA's real files live in the shared data folder beside the checkout (a git worktree sits one level deeper).
ESMA_DATA = next(
    (
        folder / "shared" / "data" / "esma"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared" / "data" / "esma").is_dir()
    ),
    FIXTURES.parent.parent / "shared" / "data" / "esma",
)


@pytest.fixture(scope="session")
def countries_fixture(tmp_path_factory):
    """The jurisdictions fixture without most of its 5,000 subdivisions: loads in a fraction of the time.

    Keeps every country, both areas and the subdivisions the seed uses.
    """
    records = json.loads((FIXTURES / "jurisdictions.json").read_text(encoding="utf-8"))
    kept = [r for r in records if r["fields"]["kind"] != "subdivision" or r["fields"]["code"] in SEED_SUBDIVISIONS]
    path = tmp_path_factory.mktemp("fixtures") / "countries.json"
    path.write_text(json.dumps(kept), encoding="utf-8")
    return path


@pytest.fixture
def countries(db, countries_fixture):
    """The jurisdictions of :func:`countries_fixture` loaded, and nothing else: what the ESMA importers resolve."""
    call_command("loaddata", str(countries_fixture), verbosity=0)


@pytest.fixture
def seed_data(db, countries_fixture):
    """The seed article's records, as `make run` loads them (with the country-level jurisdictions)."""
    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)


@pytest.fixture
def live_seed_data(transactional_db, countries_fixture):
    """The seed for browser tests against `live_server` (which needs committed data)."""
    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)


@pytest.fixture(scope="session")
def esma_dir():
    """ESMA's register files in shared/ (:data:`ESMA_DATA`)."""
    return ESMA_DATA


def load_seed_and_esma(countries_fixture, esma_dir):
    """The seed article's records plus ESMA's CASP and non-compliant-entity files, published, as an operator would."""
    from imports import esma

    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)
    esma.import_file("casps", esma_dir / "CASP20260123.csv", publish=True)
    esma.import_file("ncasps", esma_dir / "NCASP20260129.csv", publish=True)


@pytest.fixture
def live_esma_data(transactional_db, countries_fixture, esma_dir):
    """The seed and ESMA's files for browser tests against `live_server`: long names, many passports and citations."""
    load_seed_and_esma(countries_fixture, esma_dir)


@pytest.fixture
def curator():
    """A member of staff in the Curators group: drafts records, cannot publish them."""
    return factories.CuratorFactory()


@pytest.fixture
def reviewer():
    """A member of staff in the Reviewers group: publishes what a curator drafted."""
    return factories.ReviewerFactory()
