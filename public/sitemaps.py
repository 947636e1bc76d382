"""sitemap.xml: the published detail pages, each model's ``published()`` records only."""

from django.contrib.sitemaps import Sitemap

from registry.models import Audit, Entity, License, Regime, Regulator, Source


class PublishedSitemap(Sitemap):
    """One section per detail page; ``lastmod`` is the record's last edit."""

    model = None
    changefreq = "weekly"

    def items(self):
        return self.model.objects.published().order_by("slug").only("slug", "updated_at")

    def lastmod(self, obj):
        return obj.updated_at


class EntitySitemap(PublishedSitemap):
    model = Entity
    priority = 0.8


class RegulatorSitemap(PublishedSitemap):
    model = Regulator


class RegimeSitemap(PublishedSitemap):
    model = Regime


class LicenseSitemap(PublishedSitemap):
    model = License
    priority = 0.7


class AuditSitemap(PublishedSitemap):
    model = Audit


class SourceSitemap(PublishedSitemap):
    model = Source
    priority = 0.3


SITEMAPS = {
    "entities": EntitySitemap,
    "regulators": RegulatorSitemap,
    "regimes": RegimeSitemap,
    "licences": LicenseSitemap,
    "audits": AuditSitemap,
    "sources": SourceSitemap,
}
