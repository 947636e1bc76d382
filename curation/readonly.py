"""Admin pages that staff read and nobody edits: records written only by an import, a command or the outbox, or
edited on another page (an alias on its entity's). Django then shows them without add, save or delete."""

from django.contrib import admin

from curation.forms import HttpsUrlsMixin


class ReadOnlyMixin:
    """Put before the ModelAdmin class: no add, change or delete permission, whoever asks."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, HttpsUrlsMixin, admin.ModelAdmin):
    """A page of records staff read and nobody edits (the ESMA fetches and refused files, the official register's
    history, the notification outbox and its delivery log)."""
