"""``manage.py import_esma_ncasp FILE``: ``import_esma`` for ESMA's list of non-compliant entities (a warning list)."""

from imports.esma.registers import BY_CODE
from imports.management.commands.import_esma import Command as ImportEsmaCommand


class Command(ImportEsmaCommand):
    help = (
        "Import CSV snapshots of ESMA's list of entities providing crypto-asset services without authorisation "
        "(NCASPYYYYMMDD.csv): `import_esma` for NCASP files only. New records are drafts and changes to published "
        "records wait for review, unless --publish."
    )
    register = BY_CODE["NCASP"]
