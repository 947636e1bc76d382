"""Atom feeds of published changes: valid Atom, published facts only, no editor names."""

import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import models
from tests import factories

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own response, parsed to check it is Atom
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "link"):
        assert root.find(f"{ATOM}{name}") is not None, name
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Compliance Registry"
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        for name in ("id", "title", "updated", "link"):
            assert entry.find(f"{ATOM}{name}") is not None, name
        assert entry.find(f"{ATOM}link").get("href").startswith("http://testserver/")
    return root, entries, response.content.decode()


def titles(entries):
    return [entry.find(f"{ATOM}title").text for entry in entries]


@pytest.fixture
def records():
    editor = factories.UserFactory(username="editor-alice")
    area = factories.AreaFactory(code="EEA")
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    area.members.add(malta)
    holder = factories.EntityFactory(slug="okx", name="OKX")
    other = factories.EntityFactory(slug="other", name="Other Exchange")
    passported = factories.LicenseFactory(slug="okx-mica", holder=holder)
    passported.passported_to.add(area)
    passported.status = models.LicenseStatus.SUSPENDED
    passported.last_edited_by = editor
    passported._change_reason = "Regulator notice"
    passported.save()
    factories.LicenseFactory(slug="other-licence", holder=other)
    factories.DraftLicenseFactory(slug="secret", holder=holder, reference_number="SECRET-REF")
    factories.DraftEntityFactory(slug="hidden", name="Hidden Holdings")
    factories.AuditFactory(slug="okx-audit", subject=holder)
    return {"holder": holder, "other": other}


def test_register_feed(client, records):
    root, entries, text = parse(client, "/feeds/changes.atom")
    assert entries
    assert any("OKX" in title for title in titles(entries))
    assert any("Other Exchange" in title for title in titles(entries))
    assert "Status: Active → Suspended" in text
    # Drafts and editors never appear.
    assert "Hidden Holdings" not in text
    assert "SECRET-REF" not in text
    assert "editor-alice" not in text
    ids = [entry.find(f"{ATOM}id").text for entry in entries]
    assert len(set(ids)) == len(ids)
    assert ids == [entry.find(f"{ATOM}id").text for entry in parse(client, "/feeds/changes.atom")[1]]


def test_entity_feed_covers_the_entity_its_licences_and_audits_only(client, records):
    _, entries, text = parse(client, "/entities/okx/changes.atom")
    assert entries
    assert all(title.split(": ", 1)[1].startswith("OKX") for title in titles(entries))
    assert {title.split(":")[0] for title in titles(entries)} == {"Entity", "Licence", "Audit"}
    assert "Other Exchange" not in text


def test_jurisdiction_feed_covers_licences_usable_there(client, records):
    _, entries, text = parse(client, "/jurisdictions/mt/changes.atom")
    assert entries
    assert all(title.startswith("Licence: OKX") for title in titles(entries))
    assert "Other Exchange" not in text


@pytest.mark.parametrize(
    "path", ["/entities/hidden/changes.atom", "/entities/nope/changes.atom", "/jurisdictions/ZZ9/changes.atom"]
)
def test_unknown_or_draft_is_404(client, records, path):
    assert client.get(path).status_code == 404


def test_pages_link_the_feed(client, records):
    html = client.get("/").content.decode()
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/feeds/changes.atom"' in html


def grow(holder, area, count):
    """``count`` more licences of ``holder`` passported to ``area``, each edited once, and as many audits."""
    for number in range(count):
        licence = factories.LicenseFactory(holder=holder)
        licence.passported_to.add(area)
        licence.reference_number = f"REF-{number}"
        licence.save()
        factories.AuditFactory(subject=holder)


FEEDS = ["/feeds/changes.atom", "/entities/okx/changes.atom", "/jurisdictions/mt/changes.atom"]


@pytest.mark.parametrize("path", FEEDS)
def test_query_count_does_not_grow_with_the_changes(client, records, django_assert_max_num_queries, path):
    area = models.Jurisdiction.objects.get(code="EEA")
    grow(records["holder"], area, 2)
    with CaptureQueriesContext(connection) as few:
        _, before, _ = parse(client, path)
    grow(records["holder"], area, 20)
    with django_assert_max_num_queries(len(few)):
        _, after, _ = parse(client, path)
    assert len(before) < len(after) == 50
