"""``medicaid-assets``: run the pipeline's assets through Dagster from a terminal.

    medicaid-assets demo   generate the sample world, serve it on loopback, run the main job on it
    medicaid-assets ui     open the Dagster UI (dg dev) on 127.0.0.1:3000, pointed at the sample world

Both use the same Definitions the UI loads, so a run here is a run there (it lands in dagster_home/).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

import dagster as dg

from medicaid_assets.definitions import build_definitions, main_job
from medicaid_assets.defs.spending.assets import END_MONTH, FIRST_MONTH
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import settings_for_world, world_env
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env

DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
UI_WORLD_PORT = 8765


def instance_for(home: Path) -> dg.DagsterInstance:
    """The persistent instance in ``home`` (so CLI runs appear in the UI)."""
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


def full_range_tags() -> dict[str, str]:
    """Run tags for one single-run backfill over every spending month."""
    last = f"{END_MONTH.year - 1}-12-01"
    return {
        "dagster/asset_partition_range_start": FIRST_MONTH.isoformat(),
        "dagster/asset_partition_range_end": last,
    }


def run_main_job(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    job = defs.resolve_job_def(main_job.name)
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    return job.execute_in_process(
        instance=instance, tags=full_range_tags(), run_config=run_config, raise_on_error=False
    )


def _demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    spec = WorldSpec(seed=args.seed, scale=args.scale)
    started = time.monotonic()
    print(f"[1/3] sample world (seed {spec.seed}, scale {spec.scale}) in {world_dir}", flush=True)
    generate_world(world_dir, spec)
    with WorldServer(world_dir) as server:
        print(f"[2/3] serving it at {server.base_url} (files, NPI Registry and Clinical Tables emulators)", flush=True)
        world_settings = settings_for_world(settings, server.base_url)
        print(f"[3/3] running job '{main_job.name}' into {settings.data_dir} ...", flush=True)
        result = run_main_job(world_settings, instance_for(args.dagster_home))
    print()
    partitions: dict[str, int] = {}
    rows: dict[str, object] = {}
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key.to_user_string()
        partitions[key] = partitions.get(key, 0) + 1
        count = event.materialization.metadata.get("dagster/row_count")
        rows[key] = count.value if count is not None else "-"
    for key, n in partitions.items():
        parts = f"  ({n} partitions)" if n > 1 else ""
        print(f"  materialized {key:40s} rows={rows[key]}{parts}")
    status = "succeeded" if result.success else "FAILED"
    print(f"\nrun {result.run_id} {status} in {time.monotonic() - started:.0f}s")
    print(f"  data directory:    {settings.data_dir}")
    query = f"import duckdb; print(duckdb.connect('{settings.warehouse_path}', read_only=True).sql('from spending limit 5'))"
    print(f"  DuckDB warehouse:  {settings.warehouse_path}")
    print(f'     query it with:  ./run python -c "{query}"')
    print(f"  Dagster instance:  {args.dagster_home}")
    print("  open the UI:       ./run ui   then browse http://127.0.0.1:3000 (this run is under Runs)")
    return 0 if result.success else 1


def _ui(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    generate_world(world_dir, WorldSpec(seed=args.seed, scale=args.scale))
    with WorldServer(world_dir, port=args.world_port) as server:
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


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    parser = argparse.ArgumentParser(
        prog="medicaid-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job end to end on the sample world (offline)")
    ui = sub.add_parser("ui", help="start the Dagster UI against the sample world")
    for p in (demo, ui):
        p.add_argument("--seed", type=int, default=WorldSpec.seed)
        p.add_argument("--scale", type=float, default=WorldSpec.scale, help="sample-world scale (1.0 = real sizes)")
    demo.add_argument(
        "--dagster-home", type=Path, default=DAGSTER_HOME, help="Dagster instance folder (default %(default)s)"
    )
    demo.set_defaults(func=_demo)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--world-port", type=int, default=UI_WORLD_PORT)
    ui.set_defaults(func=_ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
