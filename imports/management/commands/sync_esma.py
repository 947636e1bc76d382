"""``manage.py sync_esma``: fetch ESMA's register files and import those that changed.

Run by the register's one periodic job, right before ``deliver_notifications`` (docs/operations.md, *Periodic jobs*).
"""

from django.core.management.base import BaseCommand, CommandError

from imports.esma.registers import BY_CODE, REGISTERS
from imports.management.commands.import_esma import ProgressMixin, analyze_registry_tables
from imports.sync import sync_register


class Command(ProgressMixin, BaseCommand):
    help = (
        "Fetch ESMA's interim MiCA register files (conditional requests) and import each that changed, after "
        "checking it parses completely with its columns and is not much shorter than the last one; a refused file "
        "is kept in quarantine (admin: Imports) and the register left as it was. One line per file; exit status 1 "
        "when any file was refused or failed. Scheduled with deliver_notifications, which runs right after it "
        "(docs/operations.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "registers",
            nargs="*",
            metavar="REGISTER",
            help=f"Only these ({', '.join(BY_CODE)}); default: all five, in that order.",
        )
        parser.add_argument(
            "--base-url",
            help="Fetch all five from this mirror instead (files named as ESMA names them: CASPS.csv, NCASP.csv…).",
        )
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish directly, without a second reviewer (an operator's decision, recorded in the history).",
        )

    def handle(self, *args, **options):
        unknown = [code for code in options["registers"] if code.upper() not in BY_CODE]
        if unknown:
            raise CommandError(f"No register {', '.join(unknown)}: ESMA's are {', '.join(BY_CODE)}.")
        registers = [BY_CODE[code.upper()] for code in options["registers"]] or list(REGISTERS)
        progress = self.progress if self.interactive() else None
        outcomes = []
        for register in registers:
            url = register.url(options["base_url"])
            outcome = sync_register(register, url=url, publish=options["publish"], progress=progress)
            self.clear_progress()
            self.stdout.write(outcome.line() + (f"; {outcome.counts.summary()}." if outcome.counts else ""))
            outcomes.append(outcome)
        if any(outcome.status == "imported" for outcome in outcomes):
            analyze_registry_tables()
        failed = [outcome.register.code for outcome in outcomes if not outcome.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(outcomes)} register files not synced: {', '.join(failed)}.")
