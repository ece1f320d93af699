"""``sample-world``: generate a deterministic world of inputs, and serve it on loopback.

sample-world generate [--out DIR] [--seed N] [--scale X] [--rows N] [--force]
sample-world serve [--world DIR] [--port P] [--fault-rate R --faults 429,500,... --fault-scope api]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings

FAULT_KINDS = ("429", "500", "503", "slow", "drop", "truncate", "nonjson")


def default_world_dir() -> Path:
    return Settings.from_env().data_dir / "sample_world"


def _generate(args: argparse.Namespace) -> int:
    spec = WorldSpec(seed=args.seed, scale=args.scale, rows=args.rows)
    started = time.monotonic()
    print(
        f"generating sample world into {args.out} (seed {spec.seed}, scale {spec.scale}, "
        f"{spec.spending_rows:,} spending rows, {spec.registered:,} NPPES providers) ...",
        flush=True,
    )
    info = generate_world(args.out, spec, force=args.force)
    total = sum(meta["size"] for meta in info["files"].values())
    print(f"done in {time.monotonic() - started:.1f}s: {len(info['files'])} files, {total / 1e6:.1f} MB")
    for rel, meta in info["files"].items():
        print(f"  {meta['size']:>14,}  {rel}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    server = WorldServer(args.world, host=args.host, port=args.port, request_log=args.request_log)
    server.start()
    control = None
    if args.fault_rate or args.published_weeklies is not None:
        from medicaid_assets.sample_world.server import WorldControl

        control = WorldControl(server.base_url)
        if args.fault_rate:
            control.set_faults(
                rate=args.fault_rate, kinds=args.faults.split(","), scope=args.fault_scope, seed=args.fault_seed
            )
        if args.published_weeklies is not None:
            control.publish_weeklies(args.published_weeklies)
    env = world_env(server.base_url, args.world)
    print(json.dumps({"base_url": server.base_url, "env": env}), flush=True)
    print(
        f"serving {args.world} at {server.base_url} (Ctrl-C to stop); point the pipeline at it with:", file=sys.stderr
    )
    for key, value in env.items():
        print(f"  export {key}={value}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sample-world", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a deterministic world of input files")
    gen.add_argument(
        "--out", type=Path, default=default_world_dir(), help="target folder (default: <data dir>/sample_world)"
    )
    gen.add_argument("--seed", type=int, default=WorldSpec.seed)
    gen.add_argument("--scale", type=float, default=WorldSpec.scale, help="1.0 = real sizes (default %(default)s)")
    gen.add_argument("--rows", type=int, default=None, help="spending rows (overrides the scale for that file)")
    gen.add_argument("--force", action="store_true", help="regenerate even if an identical world exists")
    gen.set_defaults(func=_generate)
    serve = sub.add_parser("serve", help="serve a generated world and emulate the two APIs")
    serve.add_argument("--world", type=Path, default=default_world_dir())
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    serve.add_argument("--request-log", type=Path, default=None, help="append every request as a JSON line here")
    serve.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get a fault")
    serve.add_argument(
        "--faults", default=",".join(FAULT_KINDS), help="comma list of fault kinds: " + ",".join(FAULT_KINDS)
    )
    serve.add_argument("--fault-scope", choices=("api", "files", "all"), default="api")
    serve.add_argument("--fault-seed", type=int, default=1)
    serve.add_argument("--published-weeklies", type=int, default=None, help="list only the N oldest weekly bundles")
    serve.set_defaults(func=_serve)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
