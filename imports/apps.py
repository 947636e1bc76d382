from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """Bulk data in: ESMA's MiCA register (imports/esma/, the sync's state) and the admin's spreadsheet uploads."""

    name = "imports"
    verbose_name = "Imports"
