"""Staff issue and revoke API keys here. A new key is shown once, on the page that answers its creation."""

from django.contrib import admin
from django.utils import timezone

from operations.security import show_secret_once
from verification.models import APIKey


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "rate", "created_at", "created_by", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "created_by")
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "rate")
        return ("name", "prefix", "rate", "created_at", "created_by", "revoked_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            # Kept on the request only, for response_add: never stored, never logged.
            request._new_api_key = obj.assign_new_key()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        template = "admin/verification/apikey/issued.html"
        return show_secret_once(self, request, template, "API key issued", obj, key=request._new_api_key)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} key(s) revoked.")
