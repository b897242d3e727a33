"""Logging set-up: stdlib logging rendered by structlog, with the call id on every call's line."""

from __future__ import annotations

import logging

import structlog

from callcenter.config import LoggingSettings


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
