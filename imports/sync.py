"""Keeping the register current with ESMA's published files, unattended (``manage.py sync_esma``).

Each run asks for each file with the validators of the last one imported (``If-None-Match``,
``If-Modified-Since``), so an unchanged file costs a ``304`` and no body. A file that did change is imported only
if, before anything is written, it parses completely with its register's columns
(:func:`imports.esma.registers.prepare`), has at least ``ESMA_MIN_ROW_FRACTION`` of the rows of the last file
imported, and differs from it (same SHA-256: nothing to do). A refused file is kept as a
:class:`~imports.models.QuarantinedFile` with the reason, and the public register stays as it was. Each file's
outcome is recorded in its :class:`~imports.models.RegisterFetch` (``/healthz`` reports their age).
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from imports.esma.registers import REGISTERS, BadFile, Register, prepare
from imports.esma.write import Counts
from imports.models import QuarantinedFile, RegisterFetch

logger = logging.getLogger(__name__)

USER_AGENT = "ComplianceRegistry-sync_esma/1"
MAX_BYTES = 64 * 1024 * 1024  # ESMA's largest file is ~140 kB; anything near this is not the register
CHUNK = 64 * 1024


class FetchFailed(Exception):
    """The server did not give the file: an HTTP error status, a timeout, no connection."""


class CutShort(Exception):
    """The server closed the connection before sending the bytes it announced."""

    def __init__(self, message: str, partial: bytes):
        super().__init__(message)
        self.partial = partial


@dataclass
class Fetched:
    body: bytes
    etag: str
    last_modified: str

    def published_on(self, today: datetime.date) -> datetime.date:
        """The day the server says the file last changed (its ``Last-Modified``), else ``today``."""
        try:
            return email.utils.parsedate_to_datetime(self.last_modified).astimezone(datetime.UTC).date()
        except (TypeError, ValueError):
            return today


def fetch(url: str, *, etag: str = "", last_modified: str = "", timeout: float) -> Fetched | None:
    """The file at ``url``, or None when the server answers ``304 Not Modified`` to the validators given."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise FetchFailed(f"{url} is not an http(s) address.")
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http or https: checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = _read_body(response, url)
            return Fetched(body, response.headers.get("ETag", ""), response.headers.get("Last-Modified", ""))
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        raise FetchFailed(f"{url} answered HTTP {error.code} {error.reason}.") from error
    except urllib.error.URLError as error:
        raise FetchFailed(f"{url} could not be reached: {error.reason}.") from error
    except TimeoutError as error:
        raise FetchFailed(f"{url} sent nothing for {timeout:g} s (ESMA_FETCH_TIMEOUT): timed out.") from error
    except (OSError, http.client.HTTPException) as error:
        raise FetchFailed(f"{url} failed: {error.__class__.__name__}: {error}.") from error


def _read_body(response, url: str) -> bytes:
    announced = response.headers.get("Content-Length")
    announced = int(announced) if announced and announced.isdigit() else None
    chunks, size = [], 0
    while True:
        try:
            chunk = response.read(CHUNK)
        except http.client.IncompleteRead as error:  # newer Pythons raise where 3.11 returns what came
            chunks.append(error.partial)
            size += len(error.partial)
            announced = announced or size + (error.expected or 0)
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            raise FetchFailed(f"{url} sent more than {MAX_BYTES // 2**20} MiB: not ESMA's register file.")
    body = b"".join(chunks)
    if announced is not None and size < announced:
        message = f"the server sent {size} of the {announced} bytes it announced: the download was cut short"
        raise CutShort(message, body)
    return body


@dataclass
class Outcome:
    """What a run did with one register's file, as one line for the log."""

    register: Register
    url: str
    status: str  # imported, not modified, unchanged: the register is current; refused, failed: it may not be
    message: str = ""
    counts: Counts | None = None

    @property
    def ok(self) -> bool:
        return self.status in {"imported", "not modified", "unchanged"}

    def line(self) -> str:
        return f"{self.register.code} ({self.url}): {self.status}" + (f": {self.message}" if self.message else "")


def sync_register(register: Register, *, url: str, publish: bool = False, progress=None) -> Outcome:
    """Fetch one register's file from ``url`` and import it if it changed and passes the checks."""
    state, _ = RegisterFetch.objects.get_or_create(register=register.code)
    now = timezone.now()
    if state.url != url:
        # Validators belong to the address that sent them; the digest and row count stay (the same register).
        state.url, state.etag, state.last_modified = url, "", ""
    state.last_attempt = now
    state.save()
    if register.importer is None:
        return _failed(state, register, "no importer", f"the project has no importer of {register.title} yet")
    try:
        fetched = fetch(url, etag=state.etag, last_modified=state.last_modified, timeout=settings.ESMA_FETCH_TIMEOUT)
    except FetchFailed as error:
        return _failed(state, register, "failed", str(error))
    except CutShort as error:
        return _refuse(state, register, error.partial, str(error), now)
    if fetched is None:
        _succeeded(state, now)
        return Outcome(register, url, "not modified", "the server answered 304 Not Modified")
    sha256 = hashlib.sha256(fetched.body).hexdigest()
    if sha256 == state.sha256:
        _succeeded(state, now, fetched)
        return Outcome(register, url, "unchanged", "the same bytes (SHA-256) as the last file imported")
    name = register.snapshot_name(fetched.published_on(timezone.localdate(now)))
    try:
        prepared = prepare(fetched.body, name, expected=register, publish=publish, progress=progress)
    except BadFile as error:
        return _refuse(state, register, fetched.body, str(error), now)
    fraction = settings.ESMA_MIN_ROW_FRACTION
    if state.row_count and prepared.rows < state.row_count * fraction:
        reason = (
            f"{name} has {prepared.rows} rows where the last file imported had {state.row_count}: fewer than "
            f"{fraction:.0%} (ESMA_MIN_ROW_FRACTION), so it looks cut short"
        )
        return _refuse(state, register, fetched.body, reason, now)
    try:
        with transaction.atomic():
            counts = prepared.run()  # records the file's digest and row count
            state.refresh_from_db()
            state.last_import = now
            _succeeded(state, now, fetched)
    except Exception as error:  # the import's transaction is rolled back: record why, go on with the next file
        logger.exception("Import of %s from %s failed", name, url)
        state.refresh_from_db()  # as saved before the import: nothing of it was kept
        return _failed(state, register, "failed", f"the import of {name} failed ({error.__class__.__name__}: {error})")
    return Outcome(register, url, "imported", f"{name} (snapshot {prepared.date.isoformat()})", counts)


def _succeeded(state: RegisterFetch, now, fetched: Fetched | None = None):
    if fetched is not None:
        state.etag, state.last_modified = fetched.etag[:300], fetched.last_modified[:100]
    state.last_success, state.last_error = now, ""
    state.save()


def _failed(state: RegisterFetch, register: Register, status: str, message: str) -> Outcome:
    state.last_error = message
    state.save()
    return Outcome(register, state.url, status, message)


def _refuse(state: RegisterFetch, register: Register, body: bytes, reason: str, now) -> Outcome:
    """Keep the refused bytes (once per distinct file) with the reason; the register is left as it was."""
    sha256 = hashlib.sha256(body).hexdigest()
    QuarantinedFile.objects.get_or_create(
        register=register.code,
        sha256=sha256,
        defaults={"url": state.url, "fetched_at": now, "size": len(body), "reason": reason, "content": body},
    )
    return _failed(state, register, "refused", f"{reason}; kept in quarantine (SHA-256 {sha256[:12]}…)")


def freshness(now=None) -> dict[str, dict]:
    """Each register's last successful sync and its age in seconds (None when never), in one query."""
    now = now or timezone.now()
    last = dict(RegisterFetch.objects.values_list("register", "last_success"))
    return {
        register.code: {
            "last_success": last[register.code].isoformat() if last.get(register.code) else None,
            "age_seconds": int((now - last[register.code]).total_seconds()) if last.get(register.code) else None,
        }
        for register in REGISTERS
    }
