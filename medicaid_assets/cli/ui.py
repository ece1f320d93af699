"""``medicaid-assets ui``: the Dagster UI (dg dev) on 127.0.0.1:3000, pointed at the sample world."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from medicaid_assets.cli.runner import DAGSTER_HOME
from medicaid_assets.cli.terminal import (
    add_world_options,
    serve_world,
)
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    world_dir = settings.data_dir / "sample_world"
    generate_world(world_dir, WorldSpec(seed=args.seed, scale=args.scale))
    with serve_world(world_dir, args.world_port, Console(stderr=True)) as server:
        env = child_env({"DAGSTER_HOME": str(DAGSTER_HOME), **world_env(server.base_url, world_dir)})
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    ui = sub.add_parser(
        "ui",
        help="the Dagster UI against the sample world",
        description="The Dagster UI (dg dev: webserver and daemon) on http://127.0.0.1:3000, with every source "
        "pointed at the sample world served on --world-port. Ctrl-C stops both.",
    )
    add_world_options(ui)
    ui.add_argument("--host", default="127.0.0.1", help="address the UI listens on (%(default)s: this machine only)")
    ui.add_argument("--port", type=int, default=3000, help="the UI's port (%(default)s)")
    ui.set_defaults(func=run)
