"""``manage.py export_dataset [DIR] [--version X] [--base-url URL]``: write an open-data release (docs/data.md)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from opendata import datasets


class Command(BaseCommand):
    help = (
        "Write a versioned release of the published register into DIR/<version>/: one CSV per record type, "
        "a JSON dump and a Frictionless datapackage.json. DIR defaults to REGISTRY_RELEASES_DIR, which /data/ lists."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Django gives every command --version (its own version); here it names the release, as documented.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "directory",
            nargs="?",
            help="Where releases live (default: the REGISTRY_RELEASES_DIR setting, which /data/ lists).",
        )
        parser.add_argument(
            "--version",
            dest="release_version",
            help="The release's name (default: today's date, with -2, -3… when a release of today exists).",
        )
        parser.add_argument(
            "--base-url",
            default="",
            help="The site's address (https://registry.example), to write absolute record URLs; "
            "without it they are paths such as /licenses/okx-mica-casp/.",
        )

    def handle(self, *args, directory=None, release_version=None, base_url="", **options):
        root = Path(directory) if directory else datasets.releases_dir()
        if base_url:
            parts = urlsplit(base_url)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
                raise CommandError(
                    f"--base-url must be an http(s) address such as https://registry.example: {base_url!r}"
                )
        # Progress redraws one line, which only makes sense on a terminal; a log gets the summary alone.
        interactive = self.stdout.isatty()
        write = (lambda text: self.stdout.write(text, ending="")) if interactive else None
        try:
            release = datasets.write_release(root, release_version, base_url=base_url, progress_write=write)
        except datasets.ReleaseError as exc:
            raise CommandError(str(exc)) from exc
        if interactive:
            self.stdout.write("")
        rate = release.total_rows / release.seconds if release.seconds else 0
        self.stdout.write(
            f"Wrote release {release.version} to {release.path}: {len(release.descriptor['resources'])} files, "
            f"{release.total_rows:,} rows, {release.total_bytes:,} bytes in {release.seconds:.1f}s "
            f"({rate:,.0f} rows/s)."
        )
