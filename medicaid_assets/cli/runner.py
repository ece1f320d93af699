"""The public runner: jobs of one Definitions executed in this process on a persistent instance (CLI, benchmarks
and tests all use it, so a run here is a run in the UI)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.core.filelock import exclusive, lock_path
from medicaid_assets.dagster_kit.ranged_runs import run_parts
from medicaid_assets.dagster_kit.recovery import end_dead_runs, process_tag
from medicaid_assets.defs.medicaid_spending.assets import stale_range_tags
from medicaid_assets.defs.medicaid_spending.jobs import FULL_REFRESH_TAGS
from medicaid_assets.defs.medicaid_spending.keys import SPENDING
from medicaid_assets.defs.reference.nppes.bundles import chronological
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_UPDATE, nppes_weekly_partitions
from medicaid_assets.defs.reference.nppes.sensors import nppes_weekly_job, nppes_weekly_sensor
from medicaid_assets.settings import PROJECT_ROOT

DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
# Against the local emulators there is nobody to be polite to: look up fast.
SAMPLE_WORLD_API = {"requests_per_second": 0, "concurrency": 8, "round_delay_seconds": 1.0}


# The instance's own settings, plus no capture of the steps' stdout/stderr (see instance_for).
TERMINAL_CONFIG = "dagster-terminal.yaml"
NO_CAPTURE = {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}


def instance_for(home: Path, capture_step_output: bool = True) -> dg.DagsterInstance:
    """The persistent instance in ``home`` (so CLI runs appear in the UI).

    ``capture_step_output=False`` (the terminal commands): the same instance (storage, pools, everything in
    ``dagster.yaml``) without Dagster's compute log capture, which redirects the steps' stdout/stderr to files and
    mirrors them back to the terminal through ``tail -F`` processes that garble the live bars and print tracebacks
    on Ctrl-C. Everything a step logs is still in the run's event log, in the UI. The settings are read from
    ``<home>/dagster-terminal.yaml``, rewritten from ``dagster.yaml`` each time.

    Opened under a lock: two processes creating one SQLite instance at once can stamp its schema twice and leave
    it unreadable ("alembic_version has more than one head").
    """
    home.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path(home), f"open the Dagster instance in {home}"):
        if capture_step_output:
            return dg.DagsterInstance.from_config(str(home))
        settings = home / "dagster.yaml"
        config = (yaml.safe_load(settings.read_text()) if settings.is_file() else None) or {}
        with atomic_write(home / TERMINAL_CONFIG, "w", encoding="utf-8") as fh:
            yaml.safe_dump({**config, "compute_logs": NO_CAPTURE}, fh, sort_keys=False)
        return dg.DagsterInstance.from_config(str(home), config_filename=TERMINAL_CONFIG)


def config_for(job: dg.JobDefinition, run_config: dict) -> dict:
    """``run_config`` without the op configs of ops ``job`` does not run (a split run would refuse them)."""
    ops = run_config.get("ops")
    if not ops:
        return run_config
    names = {node.name for node in job.graph.nodes}
    return {**run_config, "ops": {name: config for name, config in ops.items() if name in names}}


def full_range_tags() -> dict[str, str]:
    """Run tags for one single-run backfill over every spending month."""
    return dict(FULL_REFRESH_TAGS)


# Tags the runs list shows, so a run says what it did: the command that made it, and the asset groups it ran.
COMMAND_TAG = "command"
GROUPS_TAG = "groups"


def groups_tag(job: dg.JobDefinition) -> dict[str, str]:
    """The asset groups ``job`` materializes, in the order of the graph (sources first)."""
    graph = job.asset_layer.asset_graph
    keys = job.asset_layer.selected_asset_keys
    ordered = [key for key in graph.toposorted_asset_keys if key in keys]
    return {GROUPS_TAG: ", ".join(dict.fromkeys(graph.get(key).group_name for key in ordered))}


class Runner:
    """Runs jobs of one Definitions in-process on one instance, and remembers what they did.

    ``command`` (a CLI command's name) tags every run, beside the groups it ran, so the runs list reads as what was
    done (``command: download``, ``groups: medicaid_spending``) rather than the job's name alone."""

    def __init__(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        quiet: bool = False,
        split_ranges: bool = False,
        command: str | None = None,
    ) -> None:
        self.defs, self.instance = defs, instance
        self.command_tag = {COMMAND_TAG: command} if command else {}
        self.log_level = "WARNING" if quiet else "INFO"
        # Over a partition range of any partitions definition, run the partitioned assets apart (see ranged_runs;
        # ~1,400 fewer events per main job): the terminal commands do, so one run() may add up to three results.
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
        tags = {**kwargs.pop("tags", {}), **self.command_tag, **process_tag()}

        def execute(part: dg.JobDefinition, part_tags: dict[str, str]) -> dg.ExecuteInProcessResult:
            config = config_for(part, run_config)
            part_tags = {**part_tags, **groups_tag(part)}
            return part.execute_in_process(
                instance=self.instance, run_config=config, raise_on_error=False, tags=part_tags, **kwargs
            )

        def narrow(keys: set[dg.AssetKey], range_tags: dict[str, str]) -> dict[str, str] | None:
            """The spending table knows which of its months are stale; any other range (releases, states, file
            types, the months of a mart built from the table) runs as asked."""
            if SPENDING not in keys:
                return range_tags
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
