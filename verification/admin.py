"""Staff issue and revoke API keys here. A new key is shown once, on the page that answers its creation."""

from django.contrib import admin
from django.utils import timezone

from operations.security import SecretOnCreationMixin
from verification.models import APIKey


@admin.register(APIKey)
class APIKeyAdmin(SecretOnCreationMixin, admin.ModelAdmin):
    list_display = ("name", "prefix", "rate", "created_at", "created_by", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "created_by")
    actions = ("revoke",)
    # The key itself is never stored (only its digest): this page is the only place it is shown.
    shown_once_template = "admin/verification/apikey/issued.html"
    shown_once_title = "API key issued"
    shown_once_as = "key"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "rate")
        return ("name", "prefix", "rate", "created_at", "created_by", "revoked_at")

    def new_secret(self, request, obj):
        obj.created_by = request.user
        return obj.assign_new_key()

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} key(s) revoked.")
