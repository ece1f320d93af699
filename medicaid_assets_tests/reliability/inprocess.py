"""In-process runs of the pipeline's assets (what the CLI runs, minus the subprocess), with fast retries."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from medicaid_assets.cli.build_datasets import DATASETS
from medicaid_assets.cli.download import SOURCES
from medicaid_assets.cli.runner import Runner, full_range_tags
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.medicaid_spending.keys import SPENDING_FILE
from medicaid_assets.defs.reference.code_sets.keys import ARCHIVES, FALLBACK, TAXONOMY
from medicaid_assets.defs.reference.nppes.keys import MONTHLY_BUNDLE
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.reliability.harness import STATS
from medicaid_assets_tests.support.pipeline import FAST_API, with_resources

FAST_FILES = HttpFilesResource(backoff_seconds=0.02, read_timeout_seconds=1.0, connect_timeout_seconds=2.0)
RAW_FILES = dg.AssetSelection.assets(SPENDING_FILE, MONTHLY_BUNDLE, ARCHIVES, FALLBACK, TAXONOMY)  # downloaded files


def settings(data: Path, base_url: str, **overrides: str) -> Settings:
    """Settings of ``data`` with every URL on the world at ``base_url``, then ``overrides`` (environment names)."""
    world = settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), base_url)
    return Settings.from_env({**world.env(), **overrides})


def definitions(s: Settings, files: HttpFilesResource = FAST_FILES, **options) -> dg.Definitions:
    defs = build_definitions(s, api={**FAST_API, **options.pop("api", {})}, **options)
    return with_resources(defs, {"files": files})


class Pipeline:
    """One data dir's runs on a throwaway instance; every result kept for its failure messages."""

    def __init__(self, s: Settings, instance: dg.DagsterInstance, **options) -> None:
        self.settings = s
        self.runner = Runner(definitions(s, **options), instance, quiet=True)

    def run(self, selection: dg.AssetSelection, **kwargs) -> bool:
        STATS.add("inprocess_runs")
        return self.runner.run(main_job.name, selection, **kwargs)

    def download(self) -> bool:
        ok = self.run(SOURCES, tags=full_range_tags())
        STATS.add("inprocess_runs")
        return self.runner.apply_new_weeklies() and ok

    def build(self, run_config: dict | None = None) -> bool:
        return self.run(DATASETS, run_config=run_config or {})

    @property
    def last(self) -> dg.ExecuteInProcessResult:
        return self.runner.results[-1]

    def mark(self) -> int:
        return len(self.runner.results)

    def failures_since(self, mark: int) -> str:
        return "\n".join(failure_text(r) for r in self.runner.results[mark:] if not r.success)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure's message with its causes, as a user reads them in the UI."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            step = event.step_key
            while error is not None:
                texts.append(f"[{step}] {error.cls_name}: {error.message.strip()}")
                error = error.cause
    return "\n".join(texts)
