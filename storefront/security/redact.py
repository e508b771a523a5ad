"""Keep secret link tokens out of every log: the server's access log and the app's own lines."""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger

# The paths whose last segment is a secret (an e-mailed link), with or without a /p/<slug> prefix.
TOKEN_PATH = re.compile(
    r"(/(?:account/verify|account/reset|backups/link|orders/access|orders/paid|cart/from"
    r"|partner/invite)/)"
    r"(?!expired\b|new\b)[^/?#\s\"']+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Replace each link token in a text by [redacted]."""
    return TOKEN_PATH.sub(r"\1" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that takes link tokens out of a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):  # in place: gunicorn's atoms are a dict subclass
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = redact(value)
        return True


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with link tokens taken out of the request line, path and referrer."""

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e",
                    "{referer}i", "{http_referer}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


LOGGERS = ("", "werkzeug", "gunicorn.error", "gunicorn.access", "comptoir")


def install(logger_names: tuple[str, ...] = LOGGERS) -> None:
    """Put the filter on the handlers of the usual loggers (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
