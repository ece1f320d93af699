"""Dagster's log on the command's one ``rich`` console: lines scroll above the live bars, never through them.

Dagster's default console logger writes to the process's stderr on its own, and its local compute log manager
mirrors each step's stdout/stderr back to the terminal through ``tail -F`` subprocesses (a second late writer that
glues lines onto the bars, and whose watcher processes print ``KeyboardInterrupt`` tracebacks on Ctrl-C). The CLI
replaces the first with :func:`console_logger` and opens the instance without the second
(:func:`medicaid_assets.cli.runner.instance_for` with ``capture_step_output=False``).

A line is ``time level step: message``. A failure is its cause in one line (the first exception of the
chain that is not Dagster's: what failed and what to do); ``--verbose`` prints the whole stack as Dagster records it (the UI shows it too).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

import dagster as dg
from rich.console import Console
from rich.markup import escape

LEVEL_STYLES = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red"}


def error_cause(error: object) -> str:
    """What failed, from a Dagster ``SerializableErrorInfo``: the first error of the chain that is not Dagster's
    wrapper (e.g. a ``DownloadError`` naming the URL, the status and what to do), as ``Class: message`` on one line."""
    while getattr(error, "cls_name", "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    message = " ".join(str(getattr(error, "message", error)).split())
    name = getattr(error, "cls_name", None)
    if not name:
        return message
    qualified = re.compile(rf"^[\w.]*\b{re.escape(name)}: ")  # Dagster keeps "module.Class: " in the message
    return f"{name}: {qualified.sub('', message)}"


class ConsoleHandler(logging.Handler):
    """Dagster log records as short lines printed by ``console`` (which a ``rich`` Live keeps above its bars)."""

    def __init__(self, console: Console, verbose: bool) -> None:
        super().__init__()
        self.console, self.verbose = console, verbose

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        message = meta.get("orig_message") or record.getMessage()
        event = meta.get("dagster_event")
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if error is not None:
            message = f"{message} {error.to_string() if self.verbose else error_cause(error)}"
        step = meta.get("step_key")
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        style = LEVEL_STYLES.get(record.levelname, "")
        text = f"{when} {record.levelname:7s} {f'{step}: ' if step else ''}{escape(message)}"
        self.console.print(f"[{style}]{text}[/{style}]" if style else text, highlight=False)


def console_logger(console: Console, verbose: bool = False) -> dg.LoggerDefinition:
    """A logger named ``console`` for the CLI's definitions (run config sets its ``log_level`` as for Dagster's)."""

    @dg.logger(
        config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
        description="Dagster's log on the CLI's rich console, above the live bars",
    )
    def rich_console(init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("medicaid_assets.cli", init_context.logger_config["log_level"])
        log.addHandler(ConsoleHandler(console, verbose))
        return log

    return rich_console
