"""A change of ESMA's register (:class:`official.models.RegisterChange`): its one list of public fields, read as
the CSV and JSON exports' table (``opendata.tables``) like every record type's."""

from __future__ import annotations

from official.models import ChangeKind, RegisterChange
from opendata.fields import AbsoluteURLField, Day, Display, Flag, Text
from opendata.serializers import ChangesField, TableSerializer


class RegisterChangeSerializer(TableSerializer):
    register = Text(source="snapshot.register", help_text="ESMA's register file: casp, ncasp, other, emt or art.")
    snapshot = Day(source="snapshot.date", help_text="The day of the snapshot that shows the change.")
    key = Text(help_text="The record's key within its register across snapshots (a CASP's: its licence's).")
    kind = Text(help_text="listed, changed or removed (no longer listed).")
    kind_display = Display(of="kind", choices=ChangeKind.choices)
    record = Text(source="label", help_text="The record's name and LEI, as ESMA lists them.")
    url = AbsoluteURLField(
        source="record_url", allow_blank=True, help_text="Our page for the record; empty when we hold none public."
    )
    row = Text(
        allow_blank=True, allow_null=True, help_text="The record's row in the snapshot's file (1 = first data row)."
    )
    sets_end_date = Flag(help_text="ESMA published an authorisation end date for it in this snapshot.")
    end_date = Text(allow_blank=True, help_text="That end date, as ESMA wrote it (day/month/year).")
    changes = ChangesField(
        source="fields",
        help_text="ESMA's cells by column: the changed ones (old, new); all of a record listed or no longer listed.",
    )

    class Meta:
        model = RegisterChange
