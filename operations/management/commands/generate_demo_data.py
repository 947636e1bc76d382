"""``manage.py generate_demo_data --entities N --seed S [--allow-mixed] [--no-history]``: a synthetic register.

See :mod:`operations.demo`. Never run it on a production database: it refuses one
holding real records unless told ``--allow-mixed``.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from operations.demo import DemoGenerator, MixedDataError


class Command(BaseCommand):
    help = (
        "Build a deterministic, synthetic register for demos and benchmarks: N entities (groups, affiliates, "
        "companies, auditors) with about 3 licences and 2 audits each, across ~200 jurisdictions. Every record "
        "cites the source 'Synthetic demo data'. Refuses a database holding real records unless --allow-mixed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--entities", type=int, default=1000, help="How many entities (default 1000).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same N and seed give the same data.")
        parser.add_argument(
            "--allow-mixed",
            action="store_true",
            help="Run even though the database holds real (non-synthetic) records.",
        )
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="Write no change-history entries (by default each record gets one '+' entry, in bulk).",
        )

    def handle(self, *args, entities, seed, allow_mixed, no_history, verbosity, **options):
        if entities < 1:
            raise CommandError("--entities must be at least 1.")
        generator = DemoGenerator(entities, seed, history=not no_history, stream=sys.stderr, quiet=verbosity < 1)
        try:
            summary = generator.generate(allow_mixed=allow_mixed)
        except MixedDataError as error:
            raise CommandError(str(error)) from error
        if verbosity >= 1:
            self.stdout.write(summary)
