"""Dataset releases: ``manage.py export_dataset``, ``/data/`` and ``/data/dictionary/``."""

import csv
import datetime
import hashlib
import io
import json
import re
from pathlib import Path

import frictionless
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from opendata import datasets
from registry.models import KeyPersonCitation
from tests import factories


def export(root, *args, **options) -> str:
    out = io.StringIO()
    call_command("export_dataset", str(root), *args, stdout=out, **options)
    return out.getvalue()


def only_release(root: Path) -> Path:
    releases = [path for path in root.iterdir() if path.is_dir()]
    assert len(releases) == 1, releases
    return releases[0]


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture
def releases(tmp_path, settings):
    settings.REGISTRY_RELEASES_DIR = tmp_path / "releases"
    return settings.REGISTRY_RELEASES_DIR


@pytest.fixture
def seed_release(seed_data, releases):
    export(releases, "--base-url", "https://registry.example")
    return only_release(releases)


# ---------------------------------------------------------------------------
# The package
# ---------------------------------------------------------------------------


def test_seed_release_is_a_valid_frictionless_data_package(seed_release):
    report = frictionless.validate(str(seed_release / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_a_file_changed_after_release_fails_validation(seed_release):
    with (seed_release / "licenses.csv").open("a", encoding="utf-8", newline="") as handle:
        handle.write("https://x/,x,,nobody,,,,,,,,,,,,bogus,,2025-13-99\r\n")
    report = frictionless.validate(str(seed_release / "datapackage.json"))
    assert not report.valid
    problems = {error_type for (error_type,) in report.flatten(["type"])}
    assert {"hash-count", "byte-count", "constraint-error", "foreign-key"} <= problems


def test_release_descriptor_carries_licence_version_and_every_file(seed_release):
    package = json.loads((seed_release / "datapackage.json").read_text(encoding="utf-8"))
    assert package["name"] == "compliance-registry"
    assert package["version"] == seed_release.name == datetime.date.today().isoformat()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", package["created"])
    assert package["licenses"] == [
        {
            "name": "CC-BY-4.0",
            "path": "https://creativecommons.org/licenses/by/4.0/",
            "title": "Creative Commons Attribution 4.0 International",
        }
    ]
    paths = [resource["path"] for resource in package["resources"]]
    assert paths == [
        "entities.csv",
        "regulators.csv",
        "regimes.csv",
        "licenses.csv",
        "audits.csv",
        "reserve_figures.csv",
        "sources.csv",
        "citations.csv",
        "key_people.csv",
        "crypto_assets.csv",
        "white_papers.csv",
        "registry.json",
    ]
    assert sorted(path.name for path in seed_release.iterdir()) == sorted([*paths, "datapackage.json"])
    for resource in package["resources"]:
        assert resource["encoding"] == "utf-8"
        assert resource["mediatype"] == ("text/csv" if resource["format"] == "csv" else "application/json")


def test_hashes_and_byte_counts_match_the_files(seed_release):
    package = json.loads((seed_release / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        content = (seed_release / resource["path"]).read_bytes()
        assert resource["bytes"] == len(content), resource["path"]
        assert resource["hash"] == "sha256:" + hashlib.sha256(content).hexdigest(), resource["path"]


def test_csv_columns_match_the_schema_and_the_live_exports(client, seed_release):
    package = json.loads((seed_release / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        if resource["format"] != "csv":
            continue
        fields = [field["name"] for field in resource["schema"]["fields"]]
        assert header(seed_release / resource["path"]) == fields, resource["path"]
        for field in resource["schema"]["fields"]:
            assert field["type"] in {"string", "integer", "boolean", "date", "datetime", "number"}
            assert field["description"], f"{resource['name']}.{field['name']} is undocumented"
    for filename in ["entities.csv", "regulators.csv", "licenses.csv", "audits.csv"]:
        response = client.get(f"/{filename}")
        live = next(
            csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")))
        )
        assert header(seed_release / filename) == live, filename


def test_seed_release_holds_the_seed_records_with_partial_dates_as_precise_as_their_source(seed_release):
    licences = {row["slug"]: row for row in read_csv(seed_release / "licenses.csv")}
    assert set(licences) == {"okx-mica-casp", "okx-mifid-ii-investment-firm", "okx-sg-mpi", "okx-middle-east-vara-vasp"}
    assert licences["okx-mica-casp"]["granted"] == "2025-02"
    assert licences["okx-mica-casp"]["granted_display"] == "February 2025"
    assert licences["okx-mica-casp"]["passported_to"] == "EEA"
    assert licences["okx-mica-casp"]["url"] == "https://registry.example/licenses/okx-mica-casp/"
    assert licences["okx-middle-east-vara-vasp"]["granted"] == "2024-01-16"
    assert len(read_csv(seed_release / "audits.csv")) == 5
    people = read_csv(seed_release / "key_people.csv")
    assert [(p["natural_key"], p["entity_slug"]) for p in people] == [("okx-sg; Gracie Lin; CEO", "okx-sg")]

    citations = read_csv(seed_release / "citations.csv")
    assert len(citations) == 18 + 11 + 6 + 1
    granted = [c for c in citations if c["record_key"] == "okx-mica-casp" and c["supports"] == "granted_on"]
    assert granted[0]["record_type"] == "license"
    assert granted[0]["states"] == "February 2025"
    assert granted[0]["quote"].startswith("In February 2025")
    assert {c["record_type"] for c in citations} == {"entity", "license", "audit", "key_person"}

    sources = read_csv(seed_release / "sources.csv")
    assert [s["slug"] for s in sources] == ["okx-compliance-overview-article"]
    assert sources[0]["archived"] == "true"
    assert len(sources[0]["sha256"]) == 64
    # Metadata only: the archived text stays on the site.
    assert "In the context of increasingly stringent" not in (seed_release / "sources.csv").read_text(encoding="utf-8")


def test_json_dump_holds_the_same_records_with_natural_keys(seed_release):
    dump = json.loads((seed_release / "registry.json").read_text(encoding="utf-8"))
    assert dump["license"] == "CC-BY-4.0"
    assert list(dump["records"]) == [record_type.name for record_type in datasets.RECORD_TYPES]
    for record_type in datasets.RECORD_TYPES:
        rows = read_csv(seed_release / record_type.filename)
        assert len(dump["records"][record_type.name]) == len(rows), record_type.name
        for record in dump["records"][record_type.name]:
            assert list(record) == record_type.column_names
    mica = next(r for r in dump["records"]["licenses"] if r["slug"] == "okx-mica-casp")
    assert "natural_key" not in mica  # its slug is its key
    assert (mica["granted_in"], mica["granted_in_stated"]) == ("MT", True)
    assert mica["passported_to"] == ["EEA"]
    person = dump["records"]["key_people"][0]
    assert person["natural_key"] == ["okx-sg", "Gracie Lin", "CEO"]
    ongoing = next(r for r in dump["records"]["audits"] if r["slug"] == "okx-slowmist-security-audits")
    assert ongoing["ongoing"] is True
    assert ongoing["period_start"] == "2023"


def test_esma_attribution_is_listed_when_esma_data_is_published(db, releases):
    factories.LicenseFactory(
        citations=[factories.SourceFactory(publisher="European Securities and Markets Authority (ESMA)")]
    )
    export(releases)
    package = json.loads((only_release(releases) / "datapackage.json").read_text(encoding="utf-8"))
    assert "Source data (c) ESMA, interim MiCA register" in [source["title"] for source in package["sources"]]


def test_no_esma_attribution_without_esma_data(db, releases):
    factories.LicenseFactory()
    export(releases)
    package = json.loads((only_release(releases) / "datapackage.json").read_text(encoding="utf-8"))
    assert all("ESMA" not in source["title"] for source in package["sources"])


# ---------------------------------------------------------------------------
# What is published, and only that
# ---------------------------------------------------------------------------


def test_drafts_never_appear_in_a_release(db, releases):
    public = factories.LicenseFactory(slug="public-licence")
    factories.DraftLicenseFactory(slug="draft-licence", holder=public.holder)
    factories.UncitedLicenseFactory(slug="uncited-licence")
    factories.LicenseFactory(slug="licence-of-draft-holder", holder=factories.DraftEntityFactory(slug="draft-holder"))
    factories.LicenseFactory(slug="licence-from-draft-source", citations=[factories.DraftSourceFactory()])
    factories.DraftAuditFactory(slug="draft-audit")
    factories.DraftRegulatorFactory(slug="draft-regulator")
    factories.RegulatorFactory(slug="public-regulator").regimes.add(factories.DraftRegimeFactory(slug="draft-regime"))
    factories.AffiliateFactory(slug="public-affiliate", parent=factories.DraftEntityFactory(slug="draft-group"))
    factories.DraftSourceFactory(slug="draft-source")
    person = factories.KeyPersonFactory(entity=public.holder, name="Public Person")
    factories.KeyPersonFactory(entity=public.holder, name="Draft Person", publication_status="draft")
    KeyPersonCitation.objects.create(key_person=person, source=factories.DraftSourceFactory(slug="draft-cited"))

    export(releases)
    release = only_release(releases)
    everything = "".join(path.read_text(encoding="utf-8") for path in release.iterdir())
    for hidden in (
        "draft-licence",
        "uncited-licence",
        "draft-holder",
        "licence-from-draft-source",
        "draft-audit",
        "draft-regulator",
        "draft-regime",
        "draft-group",
        "draft-source",
        "draft-cited",
        "Draft Person",
    ):
        assert hidden not in everything, hidden
    assert [row["slug"] for row in read_csv(release / "licenses.csv")] == ["public-licence"]
    assert [row["name"] for row in read_csv(release / "key_people.csv")] == ["Public Person"]
    affiliate = next(row for row in read_csv(release / "entities.csv") if row["slug"] == "public-affiliate")
    assert affiliate["group_slug"] == ""
    report = frictionless.validate(str(release / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_export_outside_a_transaction_reads_one_snapshot_and_is_valid(transactional_db, releases):
    # Outside the test's own transaction, the PostgreSQL path opens its read-only REPEATABLE READ snapshot.
    factories.AuditFactory(subject=factories.LicenseFactory(slug="committed-licence").holder)
    release = datasets.write_release(releases)
    assert release.rows["licenses"] == 1 and release.rows["audits"] == 1
    report = frictionless.validate(str(release.path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_an_empty_register_gives_a_valid_release_with_headers(db, releases):
    export(releases)
    release = only_release(releases)
    for record_type in datasets.RECORD_TYPES:
        assert header(release / record_type.filename) == record_type.column_names
        assert read_csv(release / record_type.filename) == []
    report = frictionless.validate(str(release / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_a_formula_like_value_is_neutralised_in_csv_and_kept_in_json(db, releases):
    factories.LicenseFactory(slug="formula", holder=factories.EntityFactory(name="=HYPERLINK(1)"))
    export(releases)
    release = only_release(releases)
    assert read_csv(release / "licenses.csv")[0]["holder"] == "'=HYPERLINK(1)"
    dump = json.loads((release / "registry.json").read_text(encoding="utf-8"))
    assert dump["records"]["licenses"][0]["holder"] == "=HYPERLINK(1)"


def test_queries_do_not_grow_with_the_number_of_records(db, releases):
    def queries_for_release(version):
        with CaptureQueriesContext(connection) as captured:
            datasets.write_release(releases, version)
        return len(captured)

    factories.LicenseFactory()
    factories.AuditFactory()
    few = queries_for_release("few")
    for _ in range(10):
        licence = factories.LicenseFactory()
        factories.AuditFactory(subject=licence.holder)
        factories.KeyPersonFactory(entity=licence.holder)
        factories.EntityAliasFactory(entity=licence.holder)
    assert queries_for_release("many") == few


# ---------------------------------------------------------------------------
# Versions and atomic writing
# ---------------------------------------------------------------------------


def test_two_releases_on_the_same_day_get_distinct_versions(db, releases):
    factories.LicenseFactory()
    export(releases)
    export(releases)
    today = datetime.date.today().isoformat()
    assert sorted(path.name for path in releases.iterdir()) == sorted([today, f"{today}-2"])
    package = json.loads((releases / f"{today}-2" / "datapackage.json").read_text(encoding="utf-8"))
    assert package["version"] == f"{today}-2"


def test_an_explicit_version_is_used_and_never_overwritten(db, releases):
    export(releases, "--version", "2025.1")
    assert (releases / "2025.1" / "datapackage.json").is_file()
    with pytest.raises(CommandError, match="exists already"):
        export(releases, "--version", "2025.1")


@pytest.mark.parametrize("version", ["../escape", ".hidden", "a/b", "..", ""])
def test_an_unsafe_version_is_refused(db, releases, version):
    with pytest.raises(CommandError):
        export(releases, "--version", version)
    assert not releases.exists() or [path.name for path in releases.iterdir()] == []


def test_a_failed_export_leaves_no_release_and_no_temporary_files(db, releases, monkeypatch):
    factories.LicenseFactory()

    def broken(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr(datasets.RECORD_TYPES_BY_NAME["licenses"].table, "_by_keys", broken)
    with pytest.raises(RuntimeError):
        export(releases)
    assert list(releases.iterdir()) == []
    assert datasets.list_releases(releases) == []


def test_a_release_being_written_is_not_listed(db, releases):
    hidden = releases / ".writing-abc"
    hidden.mkdir(parents=True)
    (hidden / "datapackage.json").write_text('{"resources": []}', encoding="utf-8")
    incomplete = releases / "2025-01-01"
    incomplete.mkdir()
    assert datasets.list_releases() == []


def test_command_prints_one_summary_line_when_not_on_a_terminal(db, releases):
    factories.LicenseFactory()
    output = export(releases)
    assert output.count("\n") == 1
    assert output.startswith(f"Wrote release {datetime.date.today().isoformat()} to ")
    assert "\r" not in output


def test_progress_shows_count_rate_and_time_left(db, releases):
    factories.LicenseFactory()
    shown = []
    datasets.write_release(releases, "v1", progress_write=shown.append)
    assert shown
    assert re.search(r"\d+/\d+ rows · [\d,]+ rows/s · [\d,]+s left", shown[-1])


def test_a_bad_base_url_is_refused(db, releases):
    with pytest.raises(CommandError, match="base-url"):
        export(releases, "--base-url", "javascript:alert(1)")


# ---------------------------------------------------------------------------
# /data/ and its files
# ---------------------------------------------------------------------------


def test_data_page_lists_releases_newest_first_with_sizes_hashes_and_links(client, db, releases):
    factories.LicenseFactory()
    datasets.write_release(releases, "older", now=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
    datasets.write_release(releases, "newer", now=datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC))
    response = client.get("/data/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1
    assert html.index("Release newer") < html.index("Release older")
    package = json.loads((releases / "newer" / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        assert f'href="/data/newer/{resource["path"]}"' in html
        assert resource["hash"].removeprefix("sha256:") in html
        assert f'<data value="{resource["bytes"]}">' in html
    assert 'href="/data/newer/datapackage.json"' in html
    assert 'href="/licenses.csv"' in html and 'href="/licenses.json"' in html
    assert 'href="/data/dictionary/"' in html
    assert "CC-BY-4.0" in html


def test_data_page_without_releases_says_so(client, db, releases):
    response = client.get("/data/")
    assert response.status_code == 200
    assert "No release has been published yet" in response.content.decode()


def test_release_files_are_served_with_their_content_types(client, db, releases):
    factories.LicenseFactory(slug="served-licence")
    datasets.write_release(releases, "v1")
    response = client.get("/data/v1/licenses.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body == (releases / "v1" / "licenses.csv").read_bytes()
    assert b"served-licence" in body

    dump = client.get("/data/v1/registry.json")
    assert dump.status_code == 200
    assert dump["Content-Type"] == "application/json"
    descriptor = client.get("/data/v1/datapackage.json")
    assert descriptor.status_code == 200
    assert descriptor["Content-Type"] == "application/json"
    assert json.loads(b"".join(descriptor.streaming_content))["version"] == "v1"


@pytest.mark.parametrize(
    "url",
    [
        "/data/v1/../../settings.py",
        "/data/v1/..%2F..%2Fsettings.py",
        "/data/../config/settings.py",
        "/data/v1/notlisted.csv",
        "/data/v1/",
        "/data/nosuchrelease/licenses.csv",
        "/data/.writing-x/licenses.csv",
        "/data/v1/%00.csv",
    ],
)
def test_anything_not_listed_in_a_release_is_404(client, db, releases, url):
    datasets.write_release(releases, "v1")
    (releases / "v1" / "notlisted.csv").write_text("secret", encoding="utf-8")
    (releases / "settings.py").write_text("SECRET = 1", encoding="utf-8")
    hidden = releases / ".writing-x"
    hidden.mkdir()
    (hidden / "licenses.csv").write_text("half", encoding="utf-8")
    response = client.get(url)
    assert response.status_code == 404


def test_a_tampered_descriptor_cannot_serve_files_outside_its_release(client, db, releases):
    datasets.write_release(releases, "v1")
    (releases / "secret.txt").write_text("secret", encoding="utf-8")
    descriptor = releases / "v1" / "datapackage.json"
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["resources"].append({"name": "escape", "path": "../secret.txt", "format": "csv"})
    descriptor.write_text(json.dumps(package), encoding="utf-8")
    assert client.get("/data/v1/../secret.txt").status_code == 404


# ---------------------------------------------------------------------------
# /data/dictionary/
# ---------------------------------------------------------------------------


def test_dictionary_documents_every_column_of_every_resource(client, seed_release):
    response = client.get("/data/dictionary/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1
    package = json.loads((seed_release / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        if resource["format"] != "csv":
            continue
        assert f'id="{resource["name"]}"' in html
        for field in resource["schema"]["fields"]:
            row = re.search(rf'<tr id="{resource["name"]}-{field["name"]}">(.*?)</tr>', html, re.S)
            assert row, f"{resource['name']}.{field['name']} is not documented"
            assert field["type"] in row.group(1)
            assert escape(field["description"].split(" In CSV")[0]) in row.group(1)
    assert "CC-BY-4.0" in html
    assert "Source data (c) ESMA, interim MiCA register" in html


def test_every_column_has_a_description_and_an_example():
    for record_type in datasets.RECORD_TYPES:
        for column in record_type.columns:
            assert column.description, f"{record_type.name}.{column.name}"
            assert column.example, f"{record_type.name}.{column.name}"


@pytest.mark.parametrize(
    ("name", "api"),
    [
        ("entities", "/api/entities/"),
        ("regulators", "/api/regulators/"),
        ("regimes", "/api/regimes/"),
        ("licenses", "/api/licenses/"),
        ("audits", "/api/audits/"),
        ("sources", "/api/sources/"),
    ],
)
def test_a_release_holds_the_api_records_flattened(client, seed_data, releases, name, api):
    """Each file is its record type's API records, column for field (docs/exports.md states the flattening)."""
    from tests.opendata.test_exports import assert_rows_flatten_records

    factories.SourceFactory(archived_text="")  # a source without a copy: archived is false, sha256 empty
    export(releases, "--base-url", "http://testserver")
    dump = json.loads((only_release(releases) / "registry.json").read_text(encoding="utf-8"))
    records = sorted(client.get(api, {"page_size": 100}).json()["results"], key=lambda record: record["slug"])
    assert records
    assert_rows_flatten_records(dump["records"][name], records)


def test_a_release_holds_each_proof_of_reserves_figure_with_its_ratio_flag_and_source(db, releases):
    """Issue 17: reserve_figures.csv, one row per report day and asset, only of public audits and published sources."""
    audit = factories.ProofOfReservesAuditFactory(slug="okx-por", auditor__slug="hacken")
    factories.ReserveSnapshotFactory(audit=audit, as_of=datetime.date(2025, 1, 1))
    factories.ReserveSnapshotFactory(
        audit=audit, as_of=datetime.date(2025, 2, 1), assets=9_800, liabilities=10_000, reserve_ratio=None
    )
    factories.ReserveSnapshotFactory(
        audit=audit, as_of=datetime.date(2025, 2, 1), asset="BTC", assets="1.5", liabilities="1.4", reserve_ratio=None
    )
    factories.ReserveSnapshotFactory(
        audit=audit, as_of=datetime.date(2025, 3, 1), source=factories.DraftSourceFactory()
    )
    export(releases)
    rows = read_csv(only_release(releases) / "reserve_figures.csv")
    assert [(row["as_of"], row["asset"], row["ratio"], row["under_reserved"]) for row in rows] == [
        ("2025-01-01", "", "105.0", "false"),
        ("2025-02-01", "", "98.0", "true"),
        ("2025-02-01", "BTC", "107.14", "false"),
    ]
    assert {(row["audit_slug"], row["verifier_slug"]) for row in rows} == {("okx-por", "hacken")}
    assert rows[2]["assets"] == "1.5" and rows[1]["reserve_ratio"] == ""
    assert all(row["source_url"].startswith("/sources/") for row in rows)


# ---------------------------------------------------------------------------
# White papers and crypto-assets
# ---------------------------------------------------------------------------


def test_a_release_holds_public_white_papers_crypto_assets_and_their_citations(client, db, releases):
    paper = factories.WhitePaperFactory(slug="public-paper", crypto_asset__slug="public-token")
    factories.DraftWhitePaperFactory(slug="draft-paper", crypto_asset__slug="token-of-draft-paper")
    factories.WhitePaperFactory(slug="paper-of-draft-offeror", offeror=factories.DraftEntityFactory())
    factories.WhitePaperFactory(slug="uncited-paper", citations=False)

    export(releases, "--base-url", "http://testserver")
    release = only_release(releases)

    papers = read_csv(release / "white_papers.csv")
    assert [row["slug"] for row in papers] == ["public-paper"]
    assert papers[0]["crypto_asset"] == "public-token"
    assert papers[0]["offeror_slug"] == paper.offeror.slug
    assert header(release / "white_papers.csv") == header_of_live_export(client, "/white-papers.csv")
    assert [row["slug"] for row in read_csv(release / "crypto_assets.csv")] == ["public-token"]
    cited = [(row["record_type"], row["record_key"]) for row in read_csv(release / "citations.csv")]
    assert ("white_paper", "public-paper") in cited
    assert not {key for kind, key in cited if kind == "white_paper"} - {"public-paper"}
    everything = "".join(path.read_text(encoding="utf-8") for path in release.iterdir())
    for hidden in ("draft-paper", "token-of-draft-paper", "paper-of-draft-offeror", "uncited-paper"):
        assert hidden not in everything, hidden
    report = frictionless.validate(str(release / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def header_of_live_export(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_dictionary_documents_the_white_paper_and_crypto_asset_files(client, db):
    html = client.get("/data/dictionary/").content.decode()
    for name, column in (("white_papers", "offeror_slug"), ("white_papers", "host_states"), ("crypto_assets", "ffg")):
        assert f'<tr id="{name}-{column}">' in html, (name, column)
