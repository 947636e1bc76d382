from django.apps import AppConfig


class OfficialConfig(AppConfig):
    name = "official"
    verbose_name = "Official register history"
