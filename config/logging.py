"""Structured logs: one JSON object per line, for the console and for gunicorn's access log.

A log shipper can parse these without a regular expression, and a request path containing
quotes or newlines cannot forge a second log line (``json.dumps`` escapes them).
"""

import datetime
import json
import logging
import traceback

from gunicorn.glogging import Logger as GunicornLogger

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _iso_time(created: float) -> str:
    return datetime.datetime.fromtimestamp(created, tz=datetime.UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object: time, level, logger, message, extras, exception."""

    def format(self, record):
        entry = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # default=str: Django attaches the request (and gunicorn the socket) to some records.
        return json.dumps(entry, default=str, ensure_ascii=False)


def access_entry(method, path, status, duration_ms, size, remote_addr=None):
    """The fields of one request-log line; no query string, cookies or other headers, which may carry secrets."""
    return {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 2),
        "bytes": size,
        "remote_addr": remote_addr,
    }


class GunicornJsonLogger(GunicornLogger):
    """gunicorn's logger with its access log written as one JSON object per request.

    gunicorn's own ``access_log_format`` is a printf template: a path with a quote in it would break
    a hand-written JSON template, so the line is built with ``json.dumps`` instead.
    """

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = int(status.split(None, 1)[0])
        entry = {
            "time": datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "logger": "gunicorn.access",
            **access_entry(
                method=environ.get("REQUEST_METHOD"),
                path=environ.get("PATH_INFO"),
                status=status,
                duration_ms=request_time.total_seconds() * 1000,
                size=getattr(resp, "sent", None),
                remote_addr=environ.get("REMOTE_ADDR"),
            ),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:  # noqa: S110 - a log line must never take a request down
            self.error(traceback.format_exc())
