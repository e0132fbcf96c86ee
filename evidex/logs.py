"""Run logs: human lines for people, JSON lines for machines, secrets redacted everywhere."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

LOGGER = "evidex"
# Environment variables whose values must never be written anywhere.
SECRET_ENV = ("NCBI_API_KEY", "EVIDEX_API_KEY")
REDACTED = "[REDACTED]"
# Catch a key in a URL or message even when it did not come from the environment.
_KEY_PARAM = re.compile(r"(api[_-]?key=)[^&\s\"'#]+", re.IGNORECASE)


def secrets() -> list[str]:
    "The secret values currently set, longest first so overlapping values redact fully."
    values = {os.environ.get(name, "") for name in SECRET_ENV}
    # Very short values would redact ordinary words; no real API key is that short.
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def redact(text: str) -> str:
    "Text with every secret value and api_key=... parameter replaced."
    for value in secrets():
        text = text.replace(value, REDACTED)
    return _KEY_PARAM.sub(lambda m: m.group(1) + REDACTED, text)


class RedactFilter(logging.Filter):
    "Rewrites each record's message and fields with redact(); attach to handlers, not loggers."

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = json.loads(redact(json.dumps(fields, default=str)))
        if record.exc_info:
            # Tracebacks may quote URLs with the key in them; format now, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class BindFilter(logging.Filter):
    "Adds fixed fields (a run's id) to every record a handler writes; the record's own fields win."

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        record.fields = {**self.fields, **(getattr(record, "fields", None) or {})}
        return True


@contextmanager
def bound(logger: logging.Logger, **fields: Any) -> Iterator[None]:
    "Every event the logger writes meanwhile carries these fields: a log shipper can group a run's lines."
    bind = BindFilter(fields)
    handlers = list(logger.handlers)
    for handler in handlers:
        handler.addFilter(bind)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(bind)


class JsonFormatter(logging.Formatter):
    "One JSON object per line: time, level, event, message and the record's fields."

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    "A short timestamped line; warnings and errors say so."

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        text = f"{stamp} {level}{record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


def setup(json_lines: bool = False, quiet: bool = False, stream: TextIO | None = None) -> logging.Logger:
    "Configure the evidex logger (and third-party loggers' output) for one command."
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    handler.addFilter(RedactFilter())
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    # httpx logs every request URL at INFO, and NCBI's key travels in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for root_handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in root_handler.filters):
            root_handler.addFilter(RedactFilter())
    return logger


def event(logger: logging.Logger, name: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    "Log one named event with structured fields (they become JSON keys with --log-json)."
    logger.log(level, message, extra={"event": name, "fields": fields})


class RedactingStream(io.TextIOBase):
    "A text stream that redacts secrets from everything written through it."

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


@contextmanager
def redacted_output() -> Iterator[None]:
    "Route stdout and stderr through redact() for the duration of a command."
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
