import os

from django.contrib import admin
from django.urls import include, path

ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL", "admin/").strip("/") + "/"

urlpatterns = [
    path(ADMIN_URL, admin.site.urls),
    path("", include("registry.urls")),
]
