from django.conf import settings
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from operations import ops
from operations.security import RegistryAdminSite
from public.sitemaps import SITEMAPS

ADMIN_URL = settings.ADMIN_URL.strip("/") + "/"

# Asks staff for a TOTP code when DJANGO_ADMIN_REQUIRE_2FA is on. Swapped before `.urls` is read,
# which binds the site's views; every ModelAdmin registered on admin.site stays registered.
admin.site.__class__ = RegistryAdminSite

urlpatterns = [
    path(ADMIN_URL, admin.site.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("robots.txt", ops.robots_txt, name="robots-txt"),
    path("favicon.ico", ops.favicon_ico, name="favicon"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    # Before public.urls, whose catch-all answers 404 for any other path under /api/.
    path("", include("verification.urls")),
    path("", include("official.urls")),
    path("", include("watch.urls")),
    path("", include("public.urls")),
]
