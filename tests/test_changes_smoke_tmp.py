import pytest
from registry import changes, review, models
from .factories import *

pytestmark = pytest.mark.django_db

def test_smoke(client):
    lic = LicenseFactory()
    reg = RegulatorFactory()
    reg.regimes.add(lic.license_type.regime)
    cur, rev, rev2 = CuratorFactory(), ReviewerFactory(), ReviewerFactory()
    r = review.propose(lic, author=cur, reason="Regulator suspended it", base_version=lic.version, fields={"status": "suspended"}, m2m={"activities": [ActivityFactory().pk]})
    review.approve(r, reviewer=rev)
    feed = changes.ChangeFeed()
    print(feed.count())
    for c in feed[:50]:
        print(c.date_display, c.record_type, c.label, c.url, c.action, [str(x) for x in c.changes], c.reason)
    resp = client.get("/changes/")
    print(resp.status_code)
    print(client.get("/changes.json").content.decode()[:1500])
    print(client.get("/changes.csv").getvalue().decode()[:800])
    print(client.get("/changes/?since=bad&type=zzz").content.decode().count("field-errors"))
    print(client.get("/changes.json?since=bad").content)
    r = client.get(lic.get_absolute_url())
    print(r.status_code, "Regulator suspended it" in r.content.decode())
