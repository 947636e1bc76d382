"""ESMA's five CASP snapshots, recorded into the official register's history (each cited by its own source)."""

import csv
import io

import pytest

from imports.esma.parse import read_snapshot
from official.record import record_file
from tests.conftest import ESMA_DATA
from tests.factories import SourceFactory

CASP_FILES = ["CASP20251215.csv", "CASP20251223.csv", "CASP20260106.csv", "CASP20260115.csv", "CASP20260123.csv"]


def parsed(name, data=None):
    """ESMA's file ``name`` (or ``data`` under that name) read as the importer reads it."""
    return read_snapshot(data if data is not None else (ESMA_DATA / name).read_bytes(), name, "ac_lastupdate")


def record(name, data=None, source=None):
    """Record a file as an import does, cited by a published source of its own."""
    return record_file(parsed(name, data), source or SourceFactory(title=f"ESMA file {name}"))


def derived_casp(name="CASP20260130.csv", drop=(), end=None):
    """CASP20260123.csv as ESMA might publish it next: the rows of the LEIs in ``drop`` gone, and
    ``end`` = (LEI, "dd/mm/yyyy") giving one an authorisation end date."""
    text = (ESMA_DATA / "CASP20260123.csv").read_bytes().decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], [row for row in rows[1:] if row and row[3].strip() not in drop]
    for row in body:
        if end and row[3].strip() == end[0]:
            row[header.index("ac_authorisationEndDate")] = end[1]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *body])
    return name, ("\ufeff" + out.getvalue()).encode()


@pytest.fixture
def casp_history(db):
    """The five CASP snapshots recorded in date order: {file name: snapshot}."""
    return {name: record(name) for name in CASP_FILES}
