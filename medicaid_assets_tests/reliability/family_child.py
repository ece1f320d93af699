"""One family's assets materialized in a child process, with a SIGKILL armed at the n-th hit of a crash point.

    python -m medicaid_assets_tests.reliability.family_child '<families as JSON>' '<plan as JSON>'

The families are folders of ``medicaid_assets/defs`` as dotted names (``"resdac_medicare"``,
``"reference.fee_schedules"``): the child loads only their definitions (the family and the upstream families it
reads), not the whole code location. The plan is a list of steps, each ``{"select": [asset key strings],
"partition": key, "tags": {...}, "dynamic": {partitions def name: [keys]}}``, run in order on one throwaway
instance with the project's resources for the settings of this process's environment (``MEDICAID_*``). The crash points are :mod:`crashpoint`'s (``RELIABILITY_CRASH``,
``RELIABILITY_COUNTS``; ``file.fsync``/``file.rename`` also count the IO manager's parquet publishes) plus ``path.rename`` (a file or folder renamed by ``Path.rename``) and ``folder.swap``
(a landing or an extraction about to replace its folder). A failed step exits 1 with its failure text on stderr.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pathlib
import sys

from medicaid_assets_tests.reliability import crashpoint

crashpoint.POINTS["path.rename"] = "a file or folder about to be renamed by Path.rename"
crashpoint.POINTS["folder.swap"] = "a complete folder about to be exchanged with the one in place (swap_folder)"


def _install_rename_points() -> None:
    from medicaid_assets.core import atomic
    from medicaid_assets.dagster_kit import io_managers

    io_managers.os = crashpoint._Os(os)  # the IO manager publishes its parquet files with its own fsync + replace

    rename, exchange = pathlib.Path.rename, atomic._exchange

    def counted_rename(self, target):
        crashpoint.hit("path.rename")
        return rename(self, target)

    def counted_exchange(a, b):
        crashpoint.hit("folder.swap")
        return exchange(a, b)

    pathlib.Path.rename, atomic._exchange = counted_rename, counted_exchange


def family_assets(families: list[str]) -> list:
    """The assets of ``families``' folders (every module of each package, as the defs folder loads them), and the
    keys of other families they depend on as external assets (read through the IO manager, never materialized).

    Loading only these instead of the whole location (every family, the dbt project's assets) saves each child
    most of the definitions' load."""
    import dagster as dg

    packages = [importlib.import_module(f"medicaid_assets.defs.{name}") for name in families]
    assets = [a for p in packages for a in dg.load_assets_from_package_module(p) if isinstance(a, dg.AssetsDefinition)]
    produced = {key for a in assets for key in a.keys}
    upstream = {dep for a in assets for dep in a.dependency_keys} - produced
    return [*assets, *(dg.AssetSpec(key) for key in sorted(upstream, key=dg.AssetKey.to_user_string))]


def main(argv: list[str]) -> int:
    crashpoint.install()
    _install_rename_points()
    atexit.register(crashpoint._write_counts)
    import dagster as dg

    from medicaid_assets.definitions import build_resources
    from medicaid_assets.settings import Settings
    from medicaid_assets_tests.reliability.inprocess import failure_text
    from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

    assets = family_assets(json.loads(argv[0]))
    resources = {**build_resources(Settings.from_env()), "files": QUICK_RETRY_FILES}
    with dg.instance_for_test() as instance:
        for step in json.loads(argv[1]):
            for name, keys in step.get("dynamic", {}).items():
                instance.add_dynamic_partitions(name, keys)
            result = dg.materialize(
                assets,
                selection=[dg.AssetKey.from_user_string(k) for k in step["select"]],
                resources=resources,
                instance=instance,
                partition_key=step.get("partition"),
                tags=step.get("tags"),
                raise_on_error=False,
            )
            if not result.success:
                print(failure_text(result), file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
