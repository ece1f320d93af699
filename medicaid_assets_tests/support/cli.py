"""The ``medicaid-assets`` CLI run as a user runs it: a subprocess in the project root, its own Dagster home."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from medicaid_assets.settings import PROJECT_ROOT

# The CLI's closing line when every run it made succeeded (how many runs that took is its business).
SUCCEEDED = re.compile(r"^\d+ run\(s\) succeeded", re.MULTILINE)


def cli_command(args: list[str], home: Path, *, module: str = "medicaid_assets.cli") -> list[str]:
    """``python -m <module> <args> --dagster-home <home>`` (``module``: the CLI, or a wrapper that runs it)."""
    return [sys.executable, "-m", module, *args, "--dagster-home", str(home)]


def run_cli_ok(
    args: list[str], home: Path, env: dict[str, str], *, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``medicaid-assets <args>`` to the end; it must succeed (else its output's tails are the failure)."""
    done = subprocess.run(
        cli_command(args, home), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done
