"""``medicaid-assets build-datasets``: resolution and outputs (caches, mappings, npi/hcpcs datasets, report)."""

from __future__ import annotations

import argparse
import logging
import shutil
import time

import dagster as dg
from rich.console import Console

from medicaid_assets.cli.demo_parts.medicaid_spending import summary
from medicaid_assets.cli.runner import Runner, instance_for
from medicaid_assets.cli.terminal import (
    add_dagster_home,
    command_definitions,
    finish,
    graceful_ctrl_c,
    live_bars,
    settings_from_flags,
    sources_description,
)
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.publish.keys import DATASET_STORAGE
from medicaid_assets.defs.reference.resolution import keys as resolution_keys
from medicaid_assets.defs.reference.resolution import npi_cache
from medicaid_assets.layout import DataLayout

# With a bucket configured (MEDICAID_OBJECT_STORE_URL), the command also restores and mirrors its files.
DATASETS = dg.AssetSelection.groups(resolution_keys.GROUP, resolution_keys.OUTPUTS_GROUP) | DATASET_STORAGE


def reset_outputs(layout: DataLayout, console: Console) -> None:
    removed = [*npi_cache.reset(layout.npi_cache), *npi_cache.reset(layout.hcpcs_cache)]
    for path in (
        layout.npi_mapping,
        layout.hcpcs_mapping,
        layout.npi_dataset,
        layout.hcpcs_dataset,
        layout.unresolved_report,
    ):
        if path.exists():
            path.unlink()
            removed.append(path)
    if layout.triage.exists():
        shutil.rmtree(layout.triage)
        removed.append(layout.triage)
    console.print(f"--reset-map: removed {len(removed)} cache/mapping/output files")


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = settings_from_flags(args)
    layout = DataLayout(settings.data_dir)
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("dagster").addHandler(handler)
    if args.reset_map:
        reset_outputs(layout, console)
    api = {
        key: value
        for key, value in (("requests_per_second", args.requests_per_second), ("concurrency", args.concurrency))
        if value is not None
    }
    instance = instance_for(args.dagster_home, capture_step_output=False)
    resolution = {
        "skip_nppes_bulk": args.skip_nppes_bulk,
        "skip_api": args.skip_api,
        "max_new_lookups": args.max_new_lookups,
    }
    ops = {"identifier_caches": {"config": resolution}}
    if args.unresolved_report_csv:
        ops["outputs__unresolved_identifiers"] = {"config": {"unresolved_report_csv": args.unresolved_report_csv}}
    started = time.monotonic()
    with graceful_ctrl_c(console, instance) as stop, live_bars(console) as bars:
        defs = command_definitions(
            settings,
            console,
            args,
            api=api,
            hcpcs_batch_size=args.hcpcs_batch_size,
            fallback_csv=args.hcpcs_fallback_csv,
            progress_sink=bars,
        )
        runner = Runner(defs, instance, quiet=bool(args.log_file), command=args.command)
        runner.run(main_job.name, DATASETS, run_config={"ops": ops})
    return finish(runner, console, args, started, stop, lambda: summary(runner, settings, console))


def add_parser(sub: argparse._SubParsersAction) -> None:
    build = sub.add_parser(
        "build-datasets",
        help="materialize resolution and outputs",
        description=sources_description(
            "Resolves every NPI and HCPCS code of the spending table (NPPES bulk rows and the fallback "
            "first, then the APIs), then writes the mappings, the npi/hcpcs datasets and the unresolved report. "
            "Ctrl-C stops gracefully and prints the command that resumes."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dagster_home(build)
    build.add_argument("--rebuild-map", action="store_true", help="rebuild outputs from cache + API (always done)")
    build.add_argument("--reset-map", action="store_true", help="delete caches, mappings and outputs first")
    build.add_argument("--skip-nppes-bulk", action="store_true", help="do not preload NPIs from the NPPES tables")
    build.add_argument("--skip-api", action="store_true", help="no requests; cached rows are still exported")
    build.add_argument("--max-new-lookups", type=int, help="at most this many new lookups per API")
    build.add_argument("--hcpcs-batch-size", type=int, default=100, help="codes per Clinical Tables request")
    build.add_argument("--requests-per-second", type=float, help="per API (default 2)")
    build.add_argument("--concurrency", type=int, help="requests in flight per API (default 2)")
    build.add_argument(
        "--hcpcs-fallback-csv", help="CPT/HCPCS fallback CSV (default data/raw/cpt/cpt_hcpcs_fallback.csv)"
    )
    build.add_argument("--unresolved-report-csv", help="where to write the unresolved report")
    build.add_argument("--log-file", help="write Dagster's log here; the live bars stay on the terminal")
    build.add_argument("--npi-api-url", help="NPI Registry API base URL")
    build.add_argument("--hcpcs-api-url", help="Clinical Tables HCPCS search URL")
    build.set_defaults(func=run, start_over=("--reset-map",))
