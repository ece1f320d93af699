import subprocess
import sys

import dagster as dg
import pytest

from medicaid_assets.dagster_kit.launchability import materialize_all_problem
from medicaid_assets.definitions import build_definitions, defs
from medicaid_assets.settings import PROJECT_ROOT, Settings
from medicaid_assets_tests.test_layers import family


def test_definitions_load_and_every_asset_is_described(settings: Settings) -> None:
    built = build_definitions(settings)
    graph = built.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/medicaid_spending_file", "warehouse/spending"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.group_name and node.group_name != "default", key
        assert node.owners, key
        assert node.kinds, key
    assert built.resolve_job_def("medicaid_pipeline") is not None
    assert isinstance(defs(), dg.Definitions)  # what Dagster tools load: the @dg.definitions function


@pytest.mark.slow  # a fresh interpreter loading Dagster and the code location: over 10 s on 2 cores
def test_dg_check_defs_loads_the_code_location() -> None:
    dg_cli = PROJECT_ROOT / ".venv" / "bin" / "dg"
    cmd = [str(dg_cli) if dg_cli.exists() else "dg", "check", "defs"]
    result = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_workspace_yaml_loads_in_the_webserver_loader() -> None:
    code = (
        "from dagster._core.workspace.load_target import WorkspaceFileTarget;"
        "t = WorkspaceFileTarget(paths=['workspace.yaml']);"
        "print(list(t.create_origins()))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "medicaid_assets" in result.stdout


def test_every_family_folder_is_loaded_and_has_groups_of_its_own(settings: Settings) -> None:
    """Every asset comes from a module under defs/ (the folder is what loads them), and no group spans two family
    folders, so each family reads as its own group(s) in the UI."""
    built = build_definitions(settings)
    groups_of: dict[str, set[str]] = {}
    for assets_def in built.assets or []:
        fn = assets_def.op.compute_fn
        module = getattr(fn, "decorated_fn", fn).__module__
        folder = family(module)
        assert folder is not None, f"{module} is not under medicaid_assets/defs"
        groups_of.setdefault(folder, set()).update(assets_def.group_names_by_key.values())
    assert set(groups_of) >= {
        "defs.medicaid_spending",
        "defs.reference.nppes",
        "defs.reference.code_sets",
        "defs.reference.resolution",
        "defs.publish",
    }
    for folder, groups in groups_of.items():
        others = set().union(*(g for f, g in groups_of.items() if f != folder))
        assert groups and not groups & others, (folder, groups & others)


def test_configuration_chooses_where_values_between_assets_persist(tmp_path) -> None:
    from medicaid_assets.dagster_kit.io_managers import DuckDBTableIOManager, ParquetIOManager

    default = build_definitions(Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path)})).resources["io_manager"]
    assert isinstance(default, ParquetIOManager) and default.base == str(tmp_path / "assets")
    # SqlFrame values (the identifier sets) are evaluated in the warehouse they read.
    assert default.database == str(tmp_path / "warehouse.duckdb")
    env = {"MEDICAID_DATA_DIR": str(tmp_path), "MEDICAID_IO_MANAGER": "duckdb"}
    duckdb = build_definitions(Settings.from_env(env)).resources["io_manager"]
    assert isinstance(duckdb, DuckDBTableIOManager) and duckdb.database == str(tmp_path / "warehouse.duckdb")


def test_materialize_all_on_the_global_lineage_can_launch(settings: Settings) -> None:
    """The UI's and the server's partition rules agree on the whole graph (every family's assets together)."""
    assert materialize_all_problem(build_definitions(settings)) is None


def test_materialize_all_problem_names_partitioned_roots_with_different_partitions() -> None:
    @dg.asset
    def file() -> None: ...

    @dg.asset(deps=[file], partitions_def=dg.MonthlyPartitionsDefinition("2024-01-01"))
    def table() -> None: ...

    @dg.asset(partitions_def=dg.DynamicPartitionsDefinition(name="weeks"))
    def weekly() -> None: ...

    problem = materialize_all_problem(dg.Definitions(assets=[file, table, weekly]))
    assert problem is not None and "table" in problem and "weekly (weeks)" in problem
    assert materialize_all_problem(dg.Definitions(assets=[file, table])) is None
