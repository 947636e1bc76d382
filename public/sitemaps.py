"""sitemap.xml: the published detail pages, each model's ``published()`` records only."""

from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from official.models import RegisterSnapshot
from registry.models import Audit, CryptoAsset, Entity, License, Regime, Regulator, Source, WhitePaper


class PublishedSitemap(Sitemap):
    """One section per detail page; ``lastmod`` is the record's last edit."""

    model = None
    changefreq = "weekly"

    def items(self):
        return self.model.objects.published().order_by("slug").only("slug", "updated_at")

    def lastmod(self, obj):
        return obj.updated_at


def published_sitemap(model, priority=None) -> type[PublishedSitemap]:
    """The section of ``model``'s detail pages: a class, which the sitemap view makes an instance of per request."""
    return type(f"{model.__name__}Sitemap", (PublishedSitemap,), {"model": model, "priority": priority})


class OfficialSnapshotSitemap(Sitemap):
    """ESMA's register history: its index, and each published snapshot's page of changes."""

    changefreq = "weekly"
    priority = 0.4

    def items(self):
        return ["index", *RegisterSnapshot.objects.published().order_by("register", "date")]

    def location(self, item):
        return reverse("official:index") if item == "index" else item.get_absolute_url()

    def lastmod(self, item):
        return None if item == "index" else item.imported_at


SITEMAPS = {
    "entities": published_sitemap(Entity, priority=0.8),
    "regulators": published_sitemap(Regulator),
    "regimes": published_sitemap(Regime),
    "licences": published_sitemap(License, priority=0.7),
    "audits": published_sitemap(Audit),
    "sources": published_sitemap(Source, priority=0.3),
    "white-papers": published_sitemap(WhitePaper, priority=0.5),
    "crypto-assets": published_sitemap(CryptoAsset, priority=0.4),
    "official": OfficialSnapshotSitemap,
}
