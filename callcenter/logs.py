"""Logging set-up: stdlib logging rendered by structlog, with the call id on every call's line."""

from __future__ import annotations

import logging
import re

import structlog

from callcenter.config import LoggingSettings
from callcenter.privacy import mask_text

# An API token in a URL (`/api/events?token=cc_...`, websocket clients that cannot set headers)
_TOKEN_IN_URL = re.compile(r"((?:access_)?token=)[^&\s\"']+")
# Loggers that uvicorn configures itself (their records do not pass the root handler's filters).
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class Redactor(logging.Filter):
    """Tokens in URLs always, and phone and ID numbers unless `logging.mask_phone_numbers` is
    off, are removed from every record before any handler formats it."""

    def __init__(self, mask_numbers: bool = True) -> None:
        super().__init__()
        self.mask_numbers = mask_numbers

    def _clean(self, text: str) -> str:
        text = _TOKEN_IN_URL.sub(r"\1[redacted]", text)
        return mask_text(text) if self.mask_numbers else text

    def filter(self, record: logging.LogRecord) -> bool:
        # msg and each argument in place (uvicorn's access formatter reads the arguments)
        if isinstance(record.msg, str):
            record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_redaction(mask_numbers: bool = True) -> Redactor:
    """On the root handlers and on uvicorn's loggers (also after uvicorn configures them: a
    filter on a logger survives its dictConfig)."""
    redactor = Redactor(mask_numbers)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Redactor) for f in logger.filters):
            logger.addFilter(redactor)
    return redactor


def configure_logging(settings: LoggingSettings) -> None:
    renderer = (structlog.processors.JSONRenderer() if settings.json_output
                else structlog.dev.ConsoleRenderer(colors=False))
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    install_redaction(settings.mask_phone_numbers)
