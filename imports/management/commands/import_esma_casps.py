"""``manage.py import_esma_casps FILE``: ``import_esma`` for snapshots of ESMA's register of authorised CASPs."""

from imports.esma.registers import BY_CODE
from imports.management.commands.import_esma import Command as ImportEsmaCommand


class Command(ImportEsmaCommand):
    help = (
        "Import CSV snapshots of ESMA's interim MiCA register of authorised CASPs (CASPYYYYMMDD.csv): "
        "`import_esma` for CASP files only. New records are drafts and changes to published records wait for "
        "review, unless --publish."
    )
    register = BY_CODE["CASP"]
