"""``medicaid-assets pt-structure PAYER``: what a payer's in-network files look like, and the handler that fits.

Materializes ``price_transparency/structure`` for the payer (the UI's table): each file listed by the payer's
table of contents is read only as far as its first ``--items`` items (``.json``/``.json.gz`` over HTTP; a zip is
downloaded first), and its shape is printed as a table, or as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.runner import Runner, instance_for
from medicaid_assets.cli.terminal import add_dagster_home
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.price_transparency.jobs import structure_job
from medicaid_assets.defs.price_transparency.keys import PAYER_PARTITIONS, STRUCTURE
from medicaid_assets.settings import Settings

COLUMNS = (
    "container",
    "generation",
    "remote_references",
    "float_reference_ids",
    "references_before_in_network",
    "items_with_inline_groups",
    "items_with_nested_providers",
    "last_updated_on_format",
    "handler",
)


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = Settings.from_env()
    if args.catalog:
        settings = dataclasses.replace(settings, pt_catalog=args.catalog)
    runner = Runner(build_definitions(settings), instance_for(args.dagster_home), quiet=True, command="pt-structure")
    runner.instance.add_dynamic_partitions(PAYER_PARTITIONS, [args.payer])
    op = STRUCTURE.to_python_identifier()
    ok = runner.run(
        structure_job.name,
        partition_key=args.payer,
        run_config={"ops": {op: {"config": {"max_items": args.items}}}},
    )
    result = runner.results[-1]
    if not ok:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                console.print(event.step_failure_data.error.message.strip(), style="red", markup=False)
        return 1
    (event,) = result.get_asset_materialization_events()
    analyses: dict[str, dict] = event.materialization.metadata["analysis"].value  # type: ignore[assignment]
    if args.json:
        print(json.dumps(analyses, indent=2, sort_keys=True))
        return 0
    table = Table(title=f"{args.payer}: in-network files (first {args.items} items each)")
    for column in ("file", *COLUMNS):
        table.add_column(column.replace("_", " "))
    for key, shape in analyses.items():
        cells = [shape.get("error", "")[:80]] if "error" in shape else [str(shape.get(c, "")) for c in COLUMNS]
        table.add_row(key.split("__", 1)[1], *cells)
    console.print(table)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pt-structure", help="price transparency: the shape of a payer's in-network files and the handler that fits"
    )
    parser.add_argument("payer", help="a payer of the catalog (payers.yaml or MEDICAID_PT_CATALOG)")
    parser.add_argument("--items", type=int, default=50, help="items read per file (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the whole analysis as JSON")
    parser.add_argument("--catalog", type=Path, help="payer catalog YAML (default MEDICAID_PT_CATALOG or payers.yaml)")
    add_dagster_home(parser)
    parser.set_defaults(func=run)
