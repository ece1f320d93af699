"""``medicaid-assets``: run the pipeline's assets through Dagster from a terminal.

    medicaid-assets demo            sample world on loopback + the whole chain on it (offline)
    medicaid-assets download        sources: spending file, NPPES bundles, CPT/HCPCS archives and fallback, tables
    medicaid-assets build-datasets  resolution and outputs: caches, mappings, npi/hcpcs datasets, unresolved report
    medicaid-assets publish         opt-in: upload the datasets, mappings and a dataset card to Hugging Face
    medicaid-assets ui              the Dagster UI (dg dev) on 127.0.0.1:3000, pointed at the sample world

Every command materializes the same assets the UI shows, through the Dagster instance in ``dagster_home/``
(or ``--dagster-home``), so a run here is a run there. The flags are those of the original tool.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from medicaid_assets.definitions import FULL_REFRESH_TAGS, build_definitions, main_job
from medicaid_assets.defs.nppes.assets import WEEKLY_UPDATE, nppes_weekly_partitions
from medicaid_assets.defs.nppes.sensors import nppes_weekly_job, nppes_weekly_sensor
from medicaid_assets.defs.progress import set_terminal_sink
from medicaid_assets.defs.publish import DATASET_STORAGE, SOURCE_STORAGE
from medicaid_assets.defs.publish.huggingface import HF_DATASET, publish_job
from medicaid_assets.defs.resolution.lookups import STOP_REQUESTED
from medicaid_assets.defs.spending.assets import stale_range_tags
from medicaid_assets.lib import hcpcs_cache, npi_cache
from medicaid_assets.lib.fetcher import FetchProgress
from medicaid_assets.lib.filelock import Busy, exclusive, lock_path
from medicaid_assets.lib.layout import DataLayout
from medicaid_assets.lib.nppes import chronological
from medicaid_assets.ranged_runs import run_parts
from medicaid_assets.recovery import end_dead_runs, process_tag
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import settings_for_world, world_env
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env, export_hf_token

DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
WRITERS = ("demo", "download", "build-datasets")  # commands that write the data dir: one at a time per data dir
BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: another command holds the data dir; try again later
WORLD_PORT = 8765  # one fixed port: the files' URLs (and so the reuse of what was downloaded) stay the same
# With a bucket configured (MEDICAID_OBJECT_STORE_URL), each command also restores and mirrors its files.
SOURCES = dg.AssetSelection.groups("sources", "warehouse") | SOURCE_STORAGE
DATASETS = dg.AssetSelection.groups("resolution", "outputs") | DATASET_STORAGE
# Against the local emulators there is nobody to be polite to: look up fast.
SAMPLE_WORLD_API = {"requests_per_second": 0, "concurrency": 8, "round_delay_seconds": 1.0}


def instance_for(home: Path) -> dg.DagsterInstance:
    """The persistent instance in ``home`` (so CLI runs appear in the UI).

    Opened under a lock: two processes creating one SQLite instance at once can stamp its schema twice and leave
    it unreadable ("alembic_version has more than one head").
    """
    home.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path(home), f"open the Dagster instance in {home}"):
        return dg.DagsterInstance.from_config(str(home))


def _config_for(job: dg.JobDefinition, run_config: dict) -> dict:
    """``run_config`` without the op configs of ops ``job`` does not run (a split run would refuse them)."""
    ops = run_config.get("ops")
    if not ops:
        return run_config
    names = {node.name for node in job.graph.nodes}
    return {**run_config, "ops": {name: config for name, config in ops.items() if name in names}}


def full_range_tags() -> dict[str, str]:
    """Run tags for one single-run backfill over every spending month."""
    return dict(FULL_REFRESH_TAGS)


class Runner:
    """Runs jobs of one Definitions in-process on one instance, and remembers what they did."""

    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, quiet: bool = False, split_ranges: bool = False
    ) -> None:
        self.defs, self.instance = defs, instance
        self.log_level = "WARNING" if quiet else "INFO"
        # Over a partition range, run the partitioned assets apart (see ranged_runs; ~1,400 fewer events per main
        # job): the terminal commands do, so one run() may add up to three results.
        self.split_ranges = split_ranges
        self.results: list[dg.ExecuteInProcessResult] = []
        end_dead_runs(instance)  # a killed CLI process left its run STARTED and its pool slot claimed

    def run(self, job_name: str, selection: dg.AssetSelection | None = None, **kwargs) -> bool:
        job = self.defs.resolve_job_def(job_name)
        if selection is not None:
            keys = selection.resolve(self.defs.resolve_asset_graph())
            job = job.get_subset(asset_selection=keys & set(job.asset_layer.selected_asset_keys))
        run_config = kwargs.pop("run_config", {})
        run_config = {**run_config, "loggers": {"console": {"config": {"log_level": self.log_level}}}}
        tags = {**kwargs.pop("tags", {}), **process_tag()}

        def execute(part: dg.JobDefinition, part_tags: dict[str, str]) -> dg.ExecuteInProcessResult:
            config = _config_for(part, run_config)
            return part.execute_in_process(
                instance=self.instance, run_config=config, raise_on_error=False, tags=part_tags, **kwargs
            )

        def narrow(range_tags: dict[str, str]) -> dict[str, str] | None:
            res = self.defs.resources
            return stale_range_tags(range_tags, res["data"], res["sources"], res["warehouse"])

        ok = True
        parts = run_parts(job, tags, execute, narrow) if self.split_ranges else [execute(job, tags)]
        for result in parts:
            self.results.append(result)
            ok = ok and result.success
        return ok

    def apply_new_weeklies(self) -> bool:
        """Evaluate the weekly sensor once, as the daemon would, and run what it requests; plus every weekly
        partition registered earlier but never applied (a process killed between the two left it behind)."""
        resources = {k: v for k, v in self.defs.resources.items() if k in ("files", "sources")}
        context = dg.build_sensor_context(instance=self.instance, resources=resources)
        outcome = nppes_weekly_sensor(context)
        if isinstance(outcome, dg.SensorResult):
            for request in outcome.dynamic_partitions_requests or []:
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        applied = self.instance.get_materialized_partitions(WEEKLY_UPDATE)
        pending = [k for k in self.instance.get_dynamic_partitions(nppes_weekly_partitions.name) if k not in applied]
        return all(self.run(nppes_weekly_job.name, partition_key=key) for key in chronological(pending))


@contextmanager
def live_bars(console: Console) -> Iterator[None]:
    """One live bar per API (done/total, elapsed, rate, ETA) while lookups run in this process."""
    progress = Progress(
        TextColumn("{task.description:16s}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def sink(label: str, p: FetchProgress) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=p.total, rate="")
        progress.update(tasks[label], completed=p.done, total=p.total, rate=f"{p.rate:7.1f}/s {p.requests:,} req")

    set_terminal_sink(sink)
    try:
        with progress:
            yield
    finally:
        set_terminal_sink(None)


@contextmanager
def graceful_ctrl_c(console: Console) -> Iterator[None]:
    """First Ctrl-C: finish requests in flight, keep the caches, write the outputs. Second: stop now."""

    def handler(signum, frame) -> None:
        if STOP_REQUESTED.is_set():
            raise KeyboardInterrupt
        STOP_REQUESTED.set()
        console.print(
            "[yellow]stopping: requests in flight finish, caches and outputs are written "
            "(Ctrl-C again to abort)[/yellow]"
        )

    previous = signal.signal(signal.SIGINT, handler)
    STOP_REQUESTED.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Identifiers per status, requests made, and where each output is."""
    layout = DataLayout(settings.data_dir)
    requests = 0
    for result in runner.results:
        for event in result.get_asset_materialization_events():
            value = event.materialization.metadata.get("requests")
            requests += int(value.value) if value is not None else 0
    table = Table(title="identifiers")
    table.add_column("type")
    for status in ("ok", "not_found", "error", "invalid"):
        table.add_column(status, justify="right")
    if layout.npi_cache.is_file():
        with npi_cache.NpiCache(layout.npi_cache) as cache:
            counts = cache.status_counts()
        table.add_row("npi", *(f"{counts.get(s, 0):,}" for s in ("ok", "not_found", "error", "invalid")))
    if layout.hcpcs_cache.is_file():
        with hcpcs_cache.HcpcsCache(layout.hcpcs_cache) as cache:
            counts = cache.status_counts()
        table.add_row("hcpcs", *(f"{counts.get(s, 0):,}" for s in ("ok", "not_found", "error")), "-")
    console.print(table)
    console.print(f"API requests made by these runs: {requests:,}")
    for label, path in (
        ("spending table", settings.warehouse_path),
        ("NPI mapping", layout.npi_mapping),
        ("HCPCS mapping", layout.hcpcs_mapping),
        ("npi dataset", layout.npi_dataset),
        ("hcpcs dataset", layout.hcpcs_dataset),
        ("unresolved report", layout.unresolved_report),
        ("triage", layout.triage),
    ):
        console.print(f"  {label:18s} {path}{'' if path.exists() else '  (not written)'}")


def _finish(runner: Runner, settings: Settings, console: Console, home: Path, started: float) -> int:
    ok = all(r.success for r in runner.results)
    summary(runner, settings, console)
    status = "[green]succeeded[/green]" if ok else "[red]FAILED[/red] (see the run in the UI)"
    console.print(f"{len(runner.results)} run(s) {status} in {time.monotonic() - started:.0f}s")
    console.print(f"  Dagster instance:  {home}")
    console.print("  open the UI:       ./run ui   then browse http://127.0.0.1:3000 (these runs are under Runs)")
    if STOP_REQUESTED.is_set():
        console.print("[yellow]stopped early: run the same command again to resume where it stopped[/yellow]")
        return 130
    return 0 if ok else 1


@contextmanager
def serve_world(world_dir: Path, port: int, console: Console) -> Iterator[WorldServer]:
    """The sample world on ``port``, or on a free port (saying what that costs) when another process holds it.

    Downloads are reused only from the same URL, so the same port on every run is what makes a second run
    with nothing new reuse the files and skip the spending months."""
    try:
        server = WorldServer(world_dir, port=port).start()
    except OSError as exc:
        console.print(f"port {port} is busy ({exc.strerror}): serving on a free port; files will be fetched again")
        server = WorldServer(world_dir).start()
    try:
        yield server
    finally:
        server.stop()


def _demo(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    spec = WorldSpec(seed=args.seed, scale=args.scale)
    started = time.monotonic()
    console.print(f"[1/4] sample world (seed {spec.seed}, scale {spec.scale}) in {world_dir}")
    generate_world(world_dir, spec)
    with serve_world(world_dir, args.world_port, console) as server:
        console.print(f"[2/4] serving it at {server.base_url} (files, NPI Registry and Clinical Tables emulators)")
        world = settings_for_world(settings, server.base_url)
        defs = build_definitions(world, api=SAMPLE_WORLD_API)
        runner = Runner(defs, instance_for(args.dagster_home), split_ranges=True)
        console.print(f"[3/4] job '{main_job.name}': sources → warehouse → resolution → outputs in {settings.data_dir}")
        with graceful_ctrl_c(console), live_bars(console):
            runner.run(main_job.name, tags=full_range_tags())
            console.print("[4/4] new weekly NPPES bundles, as the sensor sees them: one run each")
            runner.apply_new_weeklies()
    return _finish(runner, settings, console, args.dagster_home, started)


def _settings_from_flags(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "spending_url": getattr(args, "medicaid_url", None),
        "nppes_monthly_url": getattr(args, "nppes_monthly_url", None),
        "nppes_weekly_url": getattr(args, "nppes_weekly_url", None),
        "cpt_index_url": getattr(args, "cpt_index_url", None),
        "cpt_zip_urls": tuple(args.cpt_zip_url) if getattr(args, "cpt_zip_url", None) else None,
        "npi_api_url": getattr(args, "npi_api_url", None),
        "hcpcs_api_url": getattr(args, "hcpcs_api_url", None),
    }
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v})


def _download(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = _settings_from_flags(args)
    started = time.monotonic()
    runner = Runner(build_definitions(settings), instance_for(args.dagster_home), split_ranges=True)
    selection = SOURCES
    if args.skip_nppes:
        selection = selection - dg.AssetSelection.key_substring("nppes")
    with graceful_ctrl_c(console):
        if runner.run(main_job.name, selection, tags=full_range_tags()) and not args.skip_nppes:
            runner.apply_new_weeklies()
    return _finish(runner, settings, console, args.dagster_home, started)


def _reset_outputs(layout: DataLayout, console: Console) -> None:
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


def _build_datasets(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = _settings_from_flags(args)
    layout = DataLayout(settings.data_dir)
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("dagster").addHandler(handler)
    if args.reset_map:
        _reset_outputs(layout, console)
    api = {
        key: value
        for key, value in (("requests_per_second", args.requests_per_second), ("concurrency", args.concurrency))
        if value is not None
    }
    defs = build_definitions(
        settings, api=api, hcpcs_batch_size=args.hcpcs_batch_size, fallback_csv=args.hcpcs_fallback_csv
    )
    runner = Runner(defs, instance_for(args.dagster_home), quiet=bool(args.log_file))
    resolution = {
        "skip_nppes_bulk": args.skip_nppes_bulk,
        "skip_api": args.skip_api,
        "max_new_lookups": args.max_new_lookups,
    }
    ops = {"identifier_caches": {"config": resolution}}
    if args.unresolved_report_csv:
        ops["outputs__unresolved_identifiers"] = {"config": {"unresolved_report_csv": args.unresolved_report_csv}}
    started = time.monotonic()
    with graceful_ctrl_c(console), live_bars(console):
        runner.run(main_job.name, DATASETS, run_config={"ops": ops})
    return _finish(runner, settings, console, args.dagster_home, started)


HF_UPLOADS = ("spending", "npi", "hcpcs", "mapping", "hcpcs_mapping")  # --hf-upload-<name>
HF_CONFIG_NAMES = {"mapping": "npi_mapping"}  # the original's --hf-upload-mapping is the NPI mapping


def _publish_config(args: argparse.Namespace) -> dict[str, object]:
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


def _publish(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    if args.hf_token:  # prefer HF_TOKEN in the environment: a command line is visible to other users
        export_hf_token(args.hf_token)
    settings = Settings.from_env()
    if args.hf_endpoint:
        settings = dataclasses.replace(settings, hf_endpoint=args.hf_endpoint)
    started = time.monotonic()
    runner = Runner(build_definitions(settings), instance_for(args.dagster_home))
    op = HF_DATASET.to_python_identifier()
    ok = runner.run(publish_job.name, run_config={"ops": {op: {"config": _publish_config(args)}}})
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


def _add_publish_parser(sub: argparse._SubParsersAction) -> None:
    """``publish`` with the original tool's Hugging Face flags."""
    publish = sub.add_parser("publish", help="upload datasets, mappings and a dataset card to Hugging Face (opt-in)")
    publish.add_argument(
        "--dagster-home", type=Path, default=DAGSTER_HOME, help="Dagster instance (default %(default)s)"
    )
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
    publish.set_defaults(func=_publish)


def _ui(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    generate_world(world_dir, WorldSpec(seed=args.seed, scale=args.scale))
    with serve_world(world_dir, args.world_port, Console(stderr=True)) as server:
        env = child_env({"DAGSTER_HOME": str(DAGSTER_HOME), **world_env(server.base_url)})
        print(f"sample world at {server.base_url}; Dagster UI at http://{args.host}:{args.port}", flush=True)
        dg_cli = Path(sys.executable).with_name("dg")
        cmd = [
            str(dg_cli),
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
        try:
            return subprocess.call(cmd, cwd=PROJECT_ROOT, env=env)
        except KeyboardInterrupt:
            return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medicaid-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the whole chain on the sample world (offline)")
    ui = sub.add_parser("ui", help="the Dagster UI against the sample world")
    download = sub.add_parser("download", help="materialize the source assets (downloads, tables)")
    build = sub.add_parser("build-datasets", help="materialize resolution and outputs")
    for p in (demo, ui):
        p.add_argument("--world-port", type=int, default=WORLD_PORT, help="sample-world server port (%(default)s)")
        p.add_argument("--seed", type=int, default=WorldSpec.seed)
        p.add_argument("--scale", type=float, default=WorldSpec.scale, help="sample-world scale (1.0 = real sizes)")
    for p in (demo, download, build):
        p.add_argument("--dagster-home", type=Path, default=DAGSTER_HOME, help="Dagster instance (default %(default)s)")
    demo.set_defaults(func=_demo)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_ui)

    download.add_argument("--skip-nppes", action="store_true", help="leave the NPPES bundles and tables alone")
    download.add_argument("--nppes-monthly-url", help="pin the monthly V2 zip (default: newest on the files page)")
    download.add_argument("--nppes-weekly-url", help="pin one weekly V2 zip (default: every weekly on the page)")
    download.add_argument("--cpt-index-url", help="page to auto-discover the CPT/HCPCS zip from")
    download.add_argument("--cpt-zip-url", action="append", help="CPT/HCPCS zip to download (repeatable)")
    download.add_argument("--medicaid-url", help="the spending file (.parquet, .zip or .gz)")
    download.set_defaults(func=_download)

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
    build.set_defaults(func=_build_datasets)
    _add_publish_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    args = _parser().parse_args(argv)
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
