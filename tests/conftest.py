import json
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

# Playwright's sync API runs an event loop in the test thread; Django refuses
# ORM calls from such a thread unless told it is safe (live_server tests).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SEED_SUBDIVISIONS = {"AE-DU"}

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


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
def seed_data(db, countries_fixture):
    """The seed article's records, as `make run` loads them (with the country-level jurisdictions)."""
    call_command("loaddata", str(countries_fixture), "seed", verbosity=0)


@pytest.fixture
def live_seed_data(transactional_db, countries_fixture):
    """The seed for browser tests against `live_server` (which needs committed data)."""
    call_command("loaddata", str(countries_fixture), "seed", verbosity=0)
