"""``medicaid-assets publish`` (opt-in): upload the datasets, mappings and a dataset card to Hugging Face."""

from __future__ import annotations

import argparse
import dataclasses
import time

from rich.console import Console

from medicaid_assets.cli.runner import Runner, instance_for
from medicaid_assets.cli.terminal import (
    add_dagster_home,
)
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.publish.huggingface import publish_job
from medicaid_assets.defs.publish.keys import HF_DATASET
from medicaid_assets.settings import Settings, export_hf_token

HF_UPLOADS = ("spending", "npi", "hcpcs", "mapping", "hcpcs_mapping")  # --hf-upload-<name>
HF_CONFIG_NAMES = {"mapping": "npi_mapping"}  # the original's --hf-upload-mapping is the NPI mapping


def publish_config(args: argparse.Namespace) -> dict[str, object]:
    """Run config of the publish asset from the original's flags: any --hf-upload-* given = only those."""
    chosen = {name: getattr(args, f"hf_upload_{name}") for name in HF_UPLOADS}
    config: dict[str, object] = {}
    for name, flag in chosen.items():
        field = HF_CONFIG_NAMES.get(name, name)
        config[f"upload_{field}"] = flag if any(chosen.values()) else not (name == "spending" and args.hf_skip_spending)
        path = getattr(args, f"hf_{name}_path_in_repo")
        if path:
            config[f"{field}_path_in_repo"] = path
    for key in ("repo_id", "repo_type", "commit_message"):
        if getattr(args, f"hf_{key}"):
            config[key] = getattr(args, f"hf_{key}")
    if args.hf_private:
        config["private"] = True
    config["upload_card"] = not args.hf_no_card
    return config


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    if args.hf_token:  # prefer HF_TOKEN in the environment: a command line is visible to other users
        export_hf_token(args.hf_token)
    settings = Settings.from_env()
    if args.hf_endpoint:
        settings = dataclasses.replace(settings, hf_endpoint=args.hf_endpoint)
    started = time.monotonic()
    runner = Runner(build_definitions(settings), instance_for(args.dagster_home))
    op = HF_DATASET.to_python_identifier()
    ok = runner.run(publish_job.name, run_config={"ops": {op: {"config": publish_config(args)}}})
    for event in runner.results[-1].get_asset_materialization_events():
        metadata = event.materialization.metadata
        console.print(f"published to {metadata['repo'].value} (commit {metadata['commit_oid'].value})")
        console.print(f"  configs: {', '.join(metadata['configs'].value) or '-'}   bytes: {metadata['bytes'].value:,}")
    for event in runner.results[-1].all_events:
        if event.is_step_failure and event.step_failure_data.error:  # the asset's message never holds the token
            console.print(event.step_failure_data.error.message.strip(), style="red", markup=False)
    status = "[green]succeeded[/green]" if ok else "[red]FAILED[/red] (see the run in the UI)"
    console.print(f"publish {status} in {time.monotonic() - started:.0f}s; Dagster instance: {args.dagster_home}")
    return 0 if ok else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``publish`` with the original tool's Hugging Face flags."""
    publish = sub.add_parser("publish", help="upload datasets, mappings and a dataset card to Hugging Face (opt-in)")
    add_dagster_home(publish)
    publish.add_argument("--hf-token", help="write token (default: HF_TOKEN from the environment, preferred)")
    publish.add_argument("--hf-repo-id", help="owner/name (default MEDICAID_HF_REPO_ID)")
    publish.add_argument("--hf-repo-type", help="dataset (default)")
    publish.add_argument("--hf-endpoint", help="Hub URL (default MEDICAID_HF_ENDPOINT or https://huggingface.co)")
    publish.add_argument("--hf-private", action="store_true", help="create the repo private if it does not exist")
    publish.add_argument("--hf-commit-message", help="commit message")
    publish.add_argument("--hf-no-card", action="store_true", help="do not write the dataset card (README.md)")
    publish.add_argument("--hf-skip-spending", action="store_true", help="leave out the large spending parquet")
    for name in HF_UPLOADS:
        flag = name.replace("_", "-")
        publish.add_argument(
            f"--hf-upload-{flag}", action="store_true", help=f"upload the {flag} file (any = only those)"
        )
        publish.add_argument(f"--hf-{flag}-path-in-repo", help=f"path of the {flag} file in the repo")
    publish.set_defaults(func=run)
