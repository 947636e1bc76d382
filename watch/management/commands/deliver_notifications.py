"""Deliver watchlist notifications.

Run by the register's one periodic job, right after ``sync_esma`` (docs/operations.md, *Periodic jobs*).
"""

from django.core.management.base import BaseCommand

from watch import delivery


class Command(BaseCommand):
    help = (
        "Announce expired certificates, address new events to the subscriptions watching them, and attempt the "
        "deliveries that are due (retries back off; a subscription failing too often is paused). Scheduled right "
        "after sync_esma, in the same periodic job (docs/operations.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Attempt at most this many deliveries.")

    def handle(self, *args, limit=None, **options):
        interactive = hasattr(self.stdout, "isatty") and self.stdout.isatty()
        progress = None
        if interactive:

            def progress(item, outcome):
                result = "delivered" if outcome.succeeded else f"failed ({outcome.error})"
                self.stdout.write(f"  {item.subscription}: {item.event} … {result}")

        summary = delivery.run(progress=progress, limit=limit)
        self.stdout.write(f"deliver_notifications: {summary}")
