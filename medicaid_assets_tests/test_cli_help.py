"""Help and errors of the command line as a new user meets them (subprocesses, as typed in a shell)."""

from __future__ import annotations

import subprocess
import sys

from medicaid_assets.settings import PROJECT_ROOT, child_env


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "medicaid_assets.cli", *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=child_env({}), capture_output=True, text=True, timeout=120)


def test_help_says_what_each_command_reaches_and_warns_of_nothing() -> None:
    build = _cli("build-datasets", "--help")
    assert build.returncode == 0 and "Warning" not in build.stderr, build.stderr
    text = " ".join(build.stdout.split())
    assert "Resolves every NPI and HCPCS code" in text
    assert "real public endpoints" in text and "about 3 GB" in text and "./run sample-world serve" in text
    demo = " ".join(_cli("demo", "--help").stdout.split())
    assert "--seed SEED sample-world seed" in demo and "Nothing leaves the machine" in demo


def test_an_unknown_flag_shows_the_commands_usage() -> None:
    done = _cli("build-datasets", "--no-such-flag")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: medicaid-assets build-datasets"), done.stderr[:300]
    assert "unrecognized arguments: --no-such-flag" in done.stderr and "Warning" not in done.stderr


def test_a_mistyped_run_command_says_what_exists() -> None:
    done = subprocess.run(
        [str(PROJECT_ROOT / "run"), "tests"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "Failed to spawn" not in done.stderr
    assert "unknown command 'tests' (did you mean './run test'?)" in done.stderr
