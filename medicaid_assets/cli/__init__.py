"""``medicaid-assets``: run the pipeline's assets through Dagster from a terminal.

    medicaid-assets demo            sample world on loopback + the whole chain on it (offline)
    medicaid-assets download        sources: spending file, NPPES bundles, CPT/HCPCS archives and fallback, tables
    medicaid-assets build-datasets  resolution and outputs: caches, mappings, npi/hcpcs datasets, unresolved report
    medicaid-assets publish         opt-in: upload the datasets, mappings and a dataset card to Hugging Face
    medicaid-assets ui              the Dagster UI (dg dev) on 127.0.0.1:3000, pointed at the sample world
    medicaid-assets pt-structure    price transparency: the shape of a payer's in-network files, the handler that fits

Every command materializes the same assets the UI shows, through the Dagster instance in ``dagster_home/``
(or ``--dagster-home``), so a run here is a run there. The flags are those of the original tool. One module per
command; :mod:`medicaid_assets.cli.runner` is the runner they share with the benchmarks and the tests.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import dagster as dg

from medicaid_assets.cli import build_datasets, demo, download, pt_structure, publish, ui
from medicaid_assets.core.filelock import Busy, exclusive, lock_path
from medicaid_assets.settings import Settings

COMMANDS = (demo, ui, download, build_datasets, publish, pt_structure)
WRITERS = (
    "demo",
    "download",
    "build-datasets",
    "pt-structure",
)  # commands that write the data dir: one at a time per data dir
BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: another command holds the data dir; try again later


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each command's parser by name (for errors that show the command's usage)."""
    parser = argparse.ArgumentParser(
        prog="medicaid-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser, dict(sub.choices)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the command's usage, not the top level's
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv  # what the user typed, for the command that resumes a stopped run
    if args.command not in WRITERS:
        return args.func(args)
    # One command at a time per data dir: two would write the same downloads, extractions, caches and outputs.
    data_dir = Settings.from_env().data_dir
    try:
        with exclusive(lock_path(data_dir), f"medicaid-assets {args.command} on {data_dir}", try_only=True):
            return args.func(args)
    except Busy as busy:
        print(
            f"another medicaid-assets command is using {data_dir} ({busy}); nothing was changed. "
            "Run this again when it has finished (or stop it first).",
            file=sys.stderr,
        )
        return BUSY_EXIT_CODE


if __name__ == "__main__":
    raise SystemExit(main())
