"""``manage.py import_esma_ncasp FILE``: import ESMA's list of non-compliant entities (a warning list)."""

from imports.esma import NcaspImporter
from imports.management.commands.import_esma_casps import EsmaImportCommand


class Command(EsmaImportCommand):
    help = (
        "Import a CSV snapshot of ESMA's list of entities providing crypto-asset services without authorisation "
        "(NCASPYYYYMMDD.csv). New records are drafts and changes to published records wait for review, "
        "unless --publish."
    )
    importer = NcaspImporter
