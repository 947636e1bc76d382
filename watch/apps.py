from django.apps import AppConfig


class WatchConfig(AppConfig):
    """Watchlists: signed webhooks and emails when a watched record changes publicly (issue 16, "Watch")."""

    name = "watch"
    verbose_name = "Watchlists and notifications"
