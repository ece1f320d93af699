"""``medicaid-assets demo``: the sample world on loopback and the whole chain on it (offline)."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, full_range_tags, instance_for
from medicaid_assets.cli.terminal import (
    add_dagster_home,
    add_world_options,
    finish,
    graceful_ctrl_c,
    live_bars,
    serve_world,
)
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def run(args: argparse.Namespace) -> int:
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
        instance = instance_for(args.dagster_home)
        console.print(f"[3/4] job '{main_job.name}': sources → warehouse → resolution → outputs in {settings.data_dir}")
        with graceful_ctrl_c(console, instance) as stop, live_bars(console) as bars:
            runner = Runner(
                build_definitions(world, api=SAMPLE_WORLD_API, progress_sink=bars), instance, split_ranges=True
            )
            runner.run(main_job.name, tags=full_range_tags())
            console.print("[4/4] new weekly NPPES bundles, as the sensor sees them: one run each")
            runner.apply_new_weeklies()
    return finish(runner, settings, console, args.dagster_home, started, stop)


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the whole chain on the sample world (offline)")
    add_world_options(demo)
    add_dagster_home(demo)
    demo.set_defaults(func=run)
