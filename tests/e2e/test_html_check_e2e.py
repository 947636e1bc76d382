"""One page of each type passes the Nu HTML Checker and axe-core, on the seed plus ESMA's real register files.

``make check-html`` runs this module alone; ``make test`` runs it with everything else. The register is built
once for the module (seed, ESMA's CASP and non-compliant-entity files, a dataset release) and served by a live
server of the module's own, so every page is checked against data with ESMA's long names, many passports and
many citations.

The Nu HTML Checker (``vnu.jar``) comes from the npm package ``vnu-jar``, pinned in ``tools/vnu/package-lock.json``
and installed into ``tools/vnu/node_modules`` by ``make vnu`` (Debian's Java runs it). It checks every page's HTML
as served, in one run (one JVM start). axe-core runs offline from ``tests/e2e/vendor/axe.min.js``.
"""

import datetime
import io
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db.models import Count
from django.test.utils import override_settings
from pytest_django.live_server_helper import LiveServer

from imports import esma
from registry import models
from tests import factories
from tests.conftest import load_seed_and_esma

# The marker makes pytest-django create the test database; each test runs in a transaction of the test thread's,
# which the live server's threads never see (the register is built, committed, before the first test).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
VNU_JAR = ROOT / "tools" / "vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
JAVA = shutil.which("java") or "/usr/bin/java"
# The suite shares two cores with the server thread and chromium.
WAIT = 15_000

# One page of each type. The ESMA-derived pages (a licence with the most passports, the regulator with the most
# licences, ESMA's register file as a source) are looked up once the data is in: their slugs come from ESMA.
PAGES = {
    "home": "/",
    "entity-list": "/entities/",
    "regulator-list": "/regulators/",
    "license-list": "/licenses/?regime=mica&jurisdiction=FR&status=active",
    "audit-list": "/audits/",
    "changes": "/changes/",
    "search": "/search/?q=OKX",
    "data-releases": "/data/",
    "data-dictionary": "/data/dictionary/",
    "api-docs": "/api/docs/",
    "entity": "/entities/okx/",
    "license": None,
    "audit": "/audits/okx-slowmist-security-audits/",
    "regulator": None,
    "regime": "/regimes/mica/",
    "source": None,
    "verify": "/verify/?rows=OKX%0AOKX+Europe+Ltd%2C%2C%2CFR%0ADobibo%0A%2C5299005V5GBSN2A4C304",
    # Issue 17: an audit's chain of who vouches for it, and an entity's reserves over time (not in the seed).
    "audit-chain": "/audits/example-iso/",
    "entity-reserves": "/entities/example-exchange/",
    # Issue 15: the official register's history (an earlier CASP snapshot is recorded beside the imported one).
    "official-index": "/official/esma/",
    "official-snapshot": "/official/esma/casp/2026-01-23/",
    "official-diff": "/official/esma/casp/?from=2026-01-15&to=2026-01-23",
    "official-news": "/official/esma/authorisations/",
    # Issue 16 (watch): the subscribe form with an entity chosen, a confirmation link's page, an unsubscription.
    "watch-subscribe": "/watch/?entity=okx",
    "watch-confirm": None,
    "watch-unsubscribed": None,
    # Issue 15: ESMA's white papers and crypto-assets, and an entity that offers and files them.
    "white-paper-list": "/white-papers/?kind=other&home_state=IE",
    "crypto-asset-list": "/crypto-assets/?kind=other",
    "white-paper-list-as-of": None,
    "crypto-asset-as-of": None,
    "white-paper": None,
    "crypto-asset": None,
    "entity-white-papers": None,
}


def build_register(countries_fixture, esma_dir, releases: Path):
    load_seed_and_esma(countries_fixture, esma_dir)
    esma.import_file("other", esma_dir / "OTHER20260129.csv", publish=True)
    esma.import_file("emt", esma_dir / "EMT20260129.csv", publish=True)
    add_assurance_examples()
    add_earlier_esma_snapshot(esma_dir)
    call_command("export_dataset", str(releases), stdout=io.StringIO())


def add_assurance_examples():
    """A certificate whose certification body is accredited, suspended once; proof-of-reserves figures, one under
    100 %: the page parts the seed has no data for."""
    subject = factories.EntityFactory(slug="example-exchange", name="Example Exchange")
    body = factories.AuditorFactory(slug="example-cert-body", name="Example Cert Body")
    ukas = factories.AccreditationBodyFactory(name="United Kingdom Accreditation Service", abbreviation="UKAS")
    iso = models.Standard.objects.get(slug="iso-iec-27001")
    factories.AccreditationFactory(holder=body, body=ukas, standard=iso, reference="1234")
    audit = factories.AuditFactory(slug="example-iso", subject=subject, standard=iso, auditor=body)
    factories.AuditStatusChangeFactory(audit=audit, reason="Surveillance audit missed")
    verification = factories.ProofOfReservesAuditFactory(subject=subject)
    for month, assets in [(1, 10_300), (2, 9_800), (3, 10_500)]:
        factories.ReserveSnapshotFactory(
            audit=verification, as_of=f"2025-0{month}-01", assets=assets, liabilities=10_000, reserve_ratio=None
        )


def add_earlier_esma_snapshot(esma_dir):
    """ESMA's CASP file of 15 January in the register's history, so the diff and the news have changes to show."""
    from imports.esma import read_snapshot
    from official.record import record_file

    data = (esma_dir / "CASP20260115.csv").read_bytes()
    snapshot = read_snapshot(data, "CASP20260115.csv", "ac_lastupdate")
    record_file(snapshot, factories.SourceFactory(title="ESMA interim MiCA register: CASPs (snapshot 15 January 2026)"))


def esma_paths() -> dict[str, str]:
    """The pages whose slugs ESMA's files decide: the most passported licence, the busiest regulator and source."""
    licence = models.License.objects.published().annotate(n=Count("passported_to")).order_by("-n", "slug").first()
    regulator = models.Regulator.objects.published().annotate(n=Count("licenses")).order_by("-n", "slug").first()
    source = models.Source.objects.published().annotate(n=Count("licensecitations")).order_by("-n", "slug").first()
    paper = models.WhitePaper.objects.published().get(url__startswith="https://www.biogena.com/biox")
    token = models.WhitePaper.objects.get(url="https://www.circle.com/fr/legal/mica-usdc-whitepaper").crypto_asset
    today = datetime.datetime.now(datetime.UTC).date().isoformat()  # history rows are dated in UTC
    return {
        "white-paper": paper.get_absolute_url(),
        "crypto-asset": token.get_absolute_url(),
        # As the register stood today (from the change history): the as-of banner and rows.
        "white-paper-list-as-of": f"/white-papers/?as_of={today}&kind=emt",
        "crypto-asset-as-of": f"{token.get_absolute_url()}?as_of={today}",
        "entity-white-papers": models.Entity.objects.get(lei="549300XIBGTJ0PLIEO72").get_absolute_url(),
        "license": licence.get_absolute_url(),
        "regulator": regulator.get_absolute_url(),
        "source": source.get_absolute_url(),
    }


def watch_paths() -> dict[str, str]:
    """The pages a signed link opens: confirming a subscription to OKX, and unsubscribing one."""
    from django.urls import reverse

    from watch.models import Subscription, SubscriptionStatus
    from watch.signing import confirm_token, unsubscribe_token

    # Already unsubscribed: the page is the same, and the live server's GET then writes nothing. (A write from the
    # server's thread can meet SQLite's lock while the test process holds the file: tests/watch checks the write.)
    subscription = Subscription.objects.create(
        channel="email", email="analyst@bank.example", status=SubscriptionStatus.UNSUBSCRIBED
    )
    return {
        "watch-confirm": reverse(
            "watch:confirm", kwargs={"token": confirm_token("analyst@bank.example", ("entity", "okx"))}
        ),
        "watch-unsubscribed": reverse("watch:unsubscribe", kwargs={"token": unsubscribe_token(subscription)}),
    }


def fetch(url: str) -> str:
    # Loopback only: no proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=60) as response:
        return response.read().decode("utf-8")


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, countries_fixture, esma_dir, tmp_path_factory):
    """The register with the seed and ESMA's files, served by a live server: its address and each page's path.

    Not pytest-django's ``live_server``: that one makes every test transactional, emptying the database after
    each page. Database access stays open for the module, for the server's threads; the database is emptied
    when the module ends, as the tests after it expect.
    """
    releases = tmp_path_factory.mktemp("releases")
    with django_db_blocker.unblock(), override_settings(REGISTRY_RELEASES_DIR=releases):
        server = None
        try:
            build_register(countries_fixture, esma_dir, releases)
            paths = {**PAGES, **esma_paths(), **watch_paths()}
            server = LiveServer("localhost")
            yield server.url, paths
        finally:
            if server is not None:
                server.stop()
            call_command("flush", interactive=False, verbosity=0)
            for cache in caches.all():
                cache.clear()


@pytest.fixture(scope="module")
def nu_errors(site, tmp_path_factory) -> dict[str, list[str]]:
    """Every page's HTML as served, checked by the Nu HTML Checker in one run (one JVM): page name -> its errors.

    A message repeated on several lines (a row template's) is listed once, with its lines.
    """
    assert VNU_JAR.is_file(), f"The Nu HTML Checker is not installed: run `make vnu` ({VNU_JAR} is missing)"
    url, paths = site
    folder = tmp_path_factory.mktemp("html")
    errors = {name: [] for name in paths}
    files = []
    for name, path in paths.items():
        try:
            html = fetch(url + path)
        except urllib.error.HTTPError as error:
            errors[name].append(f"{path}: HTTP {error.code}")
            continue
        files.append(folder / f"{name}.html")
        files[-1].write_text(html, encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - a fixed command on files this test wrote
        [JAVA, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", "--exit-zero-always", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = {name: {} for name in paths}
    for message in json.loads(result.stderr)["messages"]:
        name = message.get("url", "").rsplit("/", 1)[-1].removesuffix(".html")
        assert name in found, f"The Nu HTML Checker failed: {message}"
        found[name].setdefault(message["message"], []).append(str(message.get("lastLine", "?")))
    for name, messages in found.items():
        errors[name] += [f"{paths[name]}: {text} (line {', '.join(lines)})" for text, lines in messages.items()]
    return errors


@pytest.mark.parametrize("name", list(PAGES))
def test_page_passes_the_nu_html_checker(nu_errors, name):
    errors = nu_errors[name]
    assert not errors, "\n".join(["The Nu HTML Checker found errors:", *errors])


def open_an_operation(page):
    """Swagger UI draws the API docs from the schema after load: wait for it, then open an operation's form."""
    page.locator("#operations-licenses-licenses_list .opblock-summary-control").click(timeout=WAIT)
    page.locator(".try-out__btn").click(timeout=WAIT)
    page.locator(".btn.execute").wait_for(timeout=WAIT)


# What a visitor does on a page before it is checked, where its content is drawn by script.
PREPARE = {"api-docs": open_an_operation}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_axe_violation(page, site, name):
    url, paths = site
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(url + paths[name])
    assert response.status == 200
    PREPARE.get(name, lambda page: None)(page)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = [
        f"{paths[name]}: {violation['id']} ({violation['impact']}): {violation['help']}: "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in result["violations"]
    ]
    assert not violations, "\n".join(["axe-core found violations:", *violations])


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe-core is injected as an inline script, which the site's Content-Security-Policy rightly blocks."""
    return {**browser_context_args, "bypass_csp": True}
