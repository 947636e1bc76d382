"""The official register's history for staff: each ESMA file imported and what changed in it (read-only).

Written by the ESMA import only (``official/record.py``); the public pages are under /official/esma/.
"""

from django.contrib import admin

from curation.readonly import ReadOnlyAdmin
from official.models import RegisterChange, RegisterSnapshot


@admin.register(RegisterSnapshot)
class RegisterSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "register", "date", "row_count", "imported_at")
    list_filter = ("register", "date")
    search_fields = ("file_name", "sha256")
    date_hierarchy = "date"
    fields = ("register", "date", "file_name", "row_count", "sha256", "source", "previous", "imported_at")


@admin.register(RegisterChange)
class RegisterChangeAdmin(ReadOnlyAdmin):
    list_display = ("label", "key", "kind", "register", "date", "sets_end_date")
    list_filter = ("kind", "snapshot__register", "snapshot__date", "sets_end_date")
    search_fields = ("label", "key")
    list_select_related = ("snapshot",)
    # Tens of thousands of rows: no second COUNT(*) of the whole table on a filtered list.
    show_full_result_count = False
    fields = ("snapshot", "key", "label", "kind", "row", "sets_end_date", "before", "after", "license", "entity")

    @admin.display(description="register", ordering="snapshot__register")
    def register(self, change):
        return change.snapshot.get_register_display()

    @admin.display(description="date", ordering="snapshot__date")
    def date(self, change):
        return change.snapshot.date
