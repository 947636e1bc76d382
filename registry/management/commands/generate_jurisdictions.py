"""Write ``fixtures/jurisdictions.json`` from pycountry's ISO 3166 data.

Codes and names come from the ISO 3166-1 and ISO 3166-2 lists that pycountry
ships (Debian's iso-codes); nothing here is typed by hand except the two
supranational areas, whose membership is law rather than an ISO code list.
"""

import gettext
import json
from pathlib import Path

import pycountry
from django.conf import settings
from django.core.management.base import BaseCommand

# Members of the European Union since 1 February 2020 (Treaty on European Union, Art. 52).
EU_MEMBERS = ("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK").split()
# The EEA is the EU plus Iceland, Liechtenstein and Norway (EEA Agreement, Art. 126).
EEA_MEMBERS = [*EU_MEMBERS, "IS", "LI", "NO"]

AREAS = [
    ("EU", "European Union", EU_MEMBERS),
    ("EEA", "European Economic Area", EEA_MEMBERS),
]


def english(domain):
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=["en"], fallback=True).gettext


def build_records():
    """The fixture's records: countries, then subdivisions, then areas, each sorted by code."""
    subdivision_name = english("iso3166-2")
    records = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        name = getattr(country, "common_name", None) or country.name
        official = getattr(country, "official_name", "")
        records.append(
            {
                "model": "registry.jurisdiction",
                "fields": {
                    "code": country.alpha_2,
                    "name": name,
                    "official_name": official if official != name else "",
                    "kind": "country",
                    "subdivision_type": "",
                    "parent": None,
                    "members": [],
                },
            }
        )
    for sub in sorted(pycountry.subdivisions, key=lambda s: s.code):
        name = subdivision_name(sub.name)
        records.append(
            {
                "model": "registry.jurisdiction",
                "fields": {
                    "code": sub.code,
                    "name": name,
                    "official_name": sub.name if sub.name != name else "",
                    "kind": "subdivision",
                    "subdivision_type": sub.type,
                    # Subdivisions hang off their country: regulators work at country or first level.
                    "parent": [sub.country_code],
                    "members": [],
                },
            }
        )
    for code, name, members in AREAS:
        records.append(
            {
                "model": "registry.jurisdiction",
                "fields": {
                    "code": code,
                    "name": name,
                    "official_name": "",
                    "kind": "supranational",
                    "subdivision_type": "",
                    "parent": None,
                    "members": [[member] for member in sorted(members)],
                },
            }
        )
    return records


def render(records):
    return json.dumps(records, indent=1, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Regenerate fixtures/jurisdictions.json from pycountry (ISO 3166-1, ISO 3166-2) plus the EU and EEA."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            default=str(Path(settings.BASE_DIR) / "fixtures" / "jurisdictions.json"),
            help="Where to write the fixture.",
        )

    def handle(self, *args, **options):
        records = build_records()
        Path(options["output"]).write_text(render(records), encoding="utf-8")
        counts = {}
        for record in records:
            counts[record["fields"]["kind"]] = counts.get(record["fields"]["kind"], 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        self.stdout.write(f"Wrote {len(records)} jurisdictions ({summary}) to {options['output']}")
