"""``medicaid-assets download``: the source assets (spending file, NPPES bundles, CPT/HCPCS archives, tables)."""

from __future__ import annotations

import argparse
import time

import dagster as dg
from rich.console import Console

from medicaid_assets.cli.demo_parts.medicaid_spending import summary
from medicaid_assets.cli.runner import Runner, full_range_tags, instance_for
from medicaid_assets.cli.terminal import (
    add_dagster_home,
    command_definitions,
    finish,
    graceful_ctrl_c,
    settings_from_flags,
    sources_description,
)
from medicaid_assets.defs.medicaid_spending import keys as spending_keys
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.publish.keys import SOURCE_STORAGE
from medicaid_assets.defs.reference.code_sets import keys as code_sets_keys
from medicaid_assets.defs.reference.nppes import keys as nppes_keys

# With a bucket configured (MEDICAID_OBJECT_STORE_URL), the command also restores and mirrors its files.
SOURCES = dg.AssetSelection.groups(spending_keys.GROUP, nppes_keys.GROUP, code_sets_keys.GROUP) | SOURCE_STORAGE


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = settings_from_flags(args)
    started = time.monotonic()
    instance = instance_for(args.dagster_home, capture_step_output=False)
    runner = Runner(command_definitions(settings, console, args), instance, split_ranges=True, command=args.command)
    selection = SOURCES
    if args.skip_nppes:
        selection = selection - dg.AssetSelection.key_substring("nppes")
    with graceful_ctrl_c(console, instance) as stop:
        if runner.run(main_job.name, selection, tags=full_range_tags()) and not args.skip_nppes:
            runner.apply_new_weeklies()
    return finish(runner, console, args, started, stop, lambda: summary(runner, settings, console))


def add_parser(sub: argparse._SubParsersAction) -> None:
    download = sub.add_parser(
        "download",
        help="materialize the source assets (downloads, tables)",
        description=sources_description(
            "Downloads the spending file, the NPPES bundles and the CPT/HCPCS archives (resumed, validated, "
            "reused when current) and loads the warehouse tables."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dagster_home(download)
    download.add_argument("--skip-nppes", action="store_true", help="leave the NPPES bundles and tables alone")
    download.add_argument("--nppes-monthly-url", help="pin the monthly V2 zip (default: newest on the files page)")
    download.add_argument("--nppes-weekly-url", help="pin one weekly V2 zip (default: every weekly on the page)")
    download.add_argument("--cpt-index-url", help="page to auto-discover the CPT/HCPCS zip from")
    download.add_argument("--cpt-zip-url", action="append", help="CPT/HCPCS zip to download (repeatable)")
    download.add_argument("--medicaid-url", help="the spending file (.parquet, .zip or .gz)")
    download.set_defaults(func=run)
