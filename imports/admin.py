"""What ``sync_esma`` did, for operators: each ESMA file's fetch state and the files it refused (read-only)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from curation.readonly import ReadOnlyAdmin
from imports.models import QuarantinedFile, RegisterFetch


@admin.register(RegisterFetch)
class RegisterFetchAdmin(ReadOnlyAdmin):
    list_display = ("register", "last_success", "age", "last_import", "row_count", "last_attempt", "last_error")
    fields = (
        "register",
        "url",
        "last_success",
        "last_import",
        "last_attempt",
        "last_error",
        "row_count",
        "sha256",
        "etag",
        "last_modified",
    )

    @admin.display(description="last found current")
    def age(self, obj):
        return f"{timesince(obj.last_success, timezone.now())} ago" if obj.last_success else "never"


@admin.register(QuarantinedFile)
class QuarantinedFileAdmin(ReadOnlyAdmin):
    list_display = ("register", "fetched_at", "size", "reason")
    list_filter = ("register",)
    fields = ("register", "url", "fetched_at", "size", "sha256", "reason", "download")
    readonly_fields = ("download",)

    def get_urls(self):
        view = self.admin_site.admin_view(self.download_view)
        return [path("<int:pk>/download/", view, name="imports_quarantinedfile_download"), *super().get_urls()]

    @admin.display(description="the bytes kept")
    def download(self, obj):
        url = reverse(f"{self.admin_site.name}:imports_quarantinedfile_download", args=[obj.pk])
        return format_html('<a href="{}" download>Download ({} bytes)</a>', url, obj.size)

    def download_view(self, request, pk):
        quarantined = get_object_or_404(QuarantinedFile, pk=pk)
        if not self.has_view_permission(request, quarantined):
            raise PermissionDenied
        name = f"{quarantined.register}-quarantined-{quarantined.fetched_at:%Y%m%dT%H%M%SZ}.csv"
        # As received: never rendered by the browser (it is untrusted text from outside).
        response = HttpResponse(bytes(quarantined.content), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
