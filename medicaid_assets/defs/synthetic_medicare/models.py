"""The family's dbt project (``dbt_project/``, beside this module) as Dagster sees it: the manifest and the keys.

The project lives in the family folder so the package carries it and the family reads alone. Its manifest is
made when the code location loads (``dbt parse``: offline, the project has no packages), and only when a file of
the project changed since the last parse (a digest kept beside the manifest), under a file lock so concurrent
processes parse once.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.core.filelock import exclusive, lock_path
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.defs.synthetic_medicare.keys import GROUP, LANDED, model_key

PROJECT_DIR = Path(__file__).resolve().parent / "dbt_project"
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds")


def dbt_executable() -> str:
    """The ``dbt`` installed beside this interpreter (found without an activated environment), else on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.is_file() else shutil.which("dbt") or "dbt"


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())


def project_digest(project_dir: Path = PROJECT_DIR) -> str:
    """A digest of every file the manifest is made from."""
    digest = hashlib.sha256()
    for name in PROJECT_FILES:
        root = project_dir / name
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def prepared_project(project_dir: Path = PROJECT_DIR) -> DbtProject:
    """The project with a current ``target/manifest.json``, parsed now when missing or older than the files."""
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    digest_file = project.manifest_path.with_name("manifest.digest")
    digest = project_digest(project_dir)
    with exclusive(lock_path(project.manifest_path), "dbt parse"):
        current = digest_file.is_file() and digest_file.read_text() == digest and project.manifest_path.is_file()
        if not current:
            dbt_resource(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
            with atomic_write(digest_file, "w") as fh:
                fh.write(digest)
    return project


class SyntheticMedicareTranslator(DagsterDbtTranslator):
    """Models as ``warehouse/synthetic_medicare_<model>`` (dimensions, facts, the seed) or ``marts/…``; the landed
    sources as the landing asset; everything in the family's group."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return LANDED
        return model_key(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> dict[str, str]:
        return {"source": "cms_synthetic_medicare"}

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return dbt_resource_props.get("description") or f"dbt {dbt_resource_props['resource_type']}"
