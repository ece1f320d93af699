"""The CLI in a pseudo-terminal, as a person at a terminal runs it: live bars, colours, Ctrl-C typed on the keyboard.

Ctrl-C is the byte 0x03 written to the terminal: the terminal sends SIGINT to the whole foreground process group
(the CLI and any process it started), exactly as a keyboard does.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.support.cli import cli_command

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pty on fd 0."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``medicaid-assets <args>`` running in a pty of ``columns`` columns; ``output`` is everything it wrote."""

    def __init__(self, args: list[str], home: Path, env: dict[str, str], columns: int = 160) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, bytes([40, 0, columns, 0, 0, 0, 0, 0]))
        self.master, self.raw = master, b""
        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns)}
        env.pop("NO_COLOR", None)
        self.process = subprocess.Popen(
            cli_command(args, home),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=_controlling_terminal,
        )
        os.close(slave)

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            try:
                self.raw += os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(seconds)

    @property
    def output(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or (self.process.poll() is not None and not condition()):
                self.finish(10)
                raise AssertionError(f"gave up waiting for {what}; the terminal showed:\n{self.output[-4000:]}")
            self._read(0.1)

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def finish(self, timeout: float = 300) -> int:
        """Read until the command exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        for _ in range(20):  # what is still buffered in the pty
            before = len(self.raw)
            self._read(0.05)
            if len(self.raw) == before:
                break
        os.close(self.master)
        return code


def screen_lines(raw: str) -> list[str]:
    """The text segments the terminal drew, escape sequences removed, split at every newline and carriage return:
    text glued onto a bar shows up on the bar's segment."""
    return [segment for segment in re.split(r"[\r\n]+", CSI.sub("", raw)) if segment.strip()]
