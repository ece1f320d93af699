"""``medicaid-assets demo``: the sample world on loopback and every family's part of the platform on it (offline).

Each family's part (its files in the world, its runs, its summary lines) is a module of :mod:`demo_parts`."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from medicaid_assets.cli.demo_parts import parts
from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, instance_for
from medicaid_assets.cli.terminal import (
    add_dagster_home,
    add_world_options,
    command_definitions,
    finish,
    graceful_ctrl_c,
    live_bars,
    serve_world,
)
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    spec = WorldSpec(seed=args.seed, scale=args.scale)
    started = time.monotonic()
    demo = parts()
    total = 2 + sum(len(part.steps) for part in demo)
    console.print(f"[1/{total}] sample world (seed {spec.seed}, scale {spec.scale}) in {world_dir}")
    for part in demo:
        part.generate(world_dir, spec)
    with serve_world(world_dir, args.world_port, console) as server:
        console.print(f"[2/{total}] serving it at {server.base_url} (the files and the APIs' emulators)")
        world = settings_for_world(settings, server.base_url, world_dir)
        instance = instance_for(args.dagster_home, capture_step_output=False)
        with graceful_ctrl_c(console, instance) as stop, live_bars(console) as bars:
            runner = Runner(
                command_definitions(world, console, args, api=SAMPLE_WORLD_API, progress_sink=bars),
                instance,
                split_ranges=True,
                command=args.command,
            )
            number = 2
            for part in demo:
                for text, step in part.steps:
                    number += 1
                    console.print(f"[{number}/{total}] {part.name}: {text}")
                    step(runner)

    def summaries() -> None:
        for part in demo:
            part.summary(runner, settings, console)

    return finish(runner, console, args, started, stop, summaries)


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="the whole platform on the sample world (offline)",
        description="Generates the sample world (files in the real formats, emulators of the APIs) in "
        "<data dir>/sample_world, serves it on 127.0.0.1:--world-port and runs every family's jobs on it. Nothing "
        "leaves the machine. Run it again and it is incremental.",
    )
    add_world_options(demo)
    add_dagster_home(demo)
    demo.set_defaults(func=run)
