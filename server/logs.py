"""Log lines as text (the default) or as one JSON object a line (``MOVIEREC_LOG_FORMAT=json``),
for the web processes, gunicorn's own loggers and the Celery workers alike; and the request id
that every record logged while a request is answered carries. No Flask here: the web sets the
id (``server/observability.py``), this module only reads it.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import re
from typing import Any

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"

# The id of the request being answered in this thread (None outside a request).
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "movierec_request_id", default=None
)

# An id a client or proxy sent is kept when it is a plain token: it goes into log lines and a
# response header, so nothing that could break either (spaces, quotes, control characters).
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_from(header: str | None) -> str:
    """The request's id: the one sent, when it is a sane token, else a new one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # as random as uuid4, at a quarter of its cost


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute: the current request's, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


# A LogRecord's own attributes; any other one was passed as ``extra`` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the request id
    when there is one, what was passed as ``extra``, and the exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def use_format(handler: logging.Handler, log_format: str) -> None:
    """Make ``handler`` write ``log_format`` lines (text keeps its own format) with request ids."""
    if log_format == "json" and not isinstance(handler.formatter, JsonFormatter):
        handler.setFormatter(JsonFormatter())
    if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
        handler.addFilter(RequestIdFilter())


def configure_logging(level: str, log_format: str) -> None:
    """The root logger at ``level``, its handlers writing ``log_format`` with request ids (a
    handler is added when there is none, as ``logging.basicConfig`` does)."""
    logging.basicConfig(level=level.upper())
    if log_format == "json":  # text: the handlers are left as they are
        for handler in logging.getLogger().handlers:
            use_format(handler, log_format)
