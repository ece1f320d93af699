"""NPPES bundles, provider tables, weekly sensor: against the sample-world server and a real DuckDB."""

import json
import zipfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from medicaid_assets.definitions import build_definitions, build_resources
from medicaid_assets.defs.reference.nppes.assets import nppes_weekly_partitions, nppes_weekly_update
from medicaid_assets.defs.reference.nppes.bundles import bundle_key
from medicaid_assets.defs.reference.nppes.sensors import nppes_weekly_sensor
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.providers import npi_for_index, weekly_bundles
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.sample_world.world import read_world, world_spec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import checks, failure_text, metadata
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES, with_resources

PROVIDERS_OP = "warehouse__nppes_providers"


def _defs(settings: Settings, **sources: str) -> dg.Definitions:
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    if sources:  # e.g. a pinned nppes_monthly_url
        resources["sources"] = type(resources["sources"])(**{**resources["sources"].model_dump(), **sources})
    return with_resources(build_definitions(settings), resources)


def _run(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def _build_config(**config: object) -> dict:
    return {"ops": {PROVIDERS_OP: {"config": config}}}


def _weekly(settings: Settings, defs: dg.Definitions, instance: dg.DagsterInstance, key: str, **kw):
    if key not in instance.get_dynamic_partitions(nppes_weekly_partitions.name):
        instance.add_dynamic_partitions(nppes_weekly_partitions.name, [key])
    return _run(defs, "nppes_weekly_job", instance, partition_key=key, **kw)


def _query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def _snapshot(settings: Settings, table: str = "nppes_providers") -> dict[str, str]:
    """npi -> the whole row (as text, since list columns are not hashable)."""
    return {row[0]: repr(row) for row in _query(settings, f"SELECT * FROM {table} ORDER BY npi")}


def _side_snapshot(settings: Settings) -> list[tuple]:
    tables = ("nppes_other_names", "nppes_practice_locations", "nppes_endpoints")
    return [tuple(_query(settings, f"SELECT * FROM {t} ORDER BY ALL")) for t in tables]


def _zip_gets(world: WorldControl) -> list[str]:
    return [r["path"] for r in world.requests() if r["method"] == "GET" and r["path"].endswith(".zip")]


def _weekly_keys(world_dir: Path) -> list[str]:
    return [bundle_key(b.zip_name) for b in weekly_bundles(world_spec(world_dir))]


def _rewrite_zip(source: Path, dest: Path, edit) -> None:
    """A copy of the bundle zip ``source`` at ``dest`` with ``edit(name, text) -> text`` applied to each CSV."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".csv"):
                data = edit(info.filename, data.decode("latin-1")).encode("latin-1")
            out.writestr(info.filename, data)


def _world_zip(world_dir: Path, name: str) -> Path:
    return world_dir / "files" / "download.cms.gov" / "nppes" / name


def test_sensor_adds_each_new_weekly_once(settings: Settings, world: WorldControl, world_dir: Path) -> None:
    keys = _weekly_keys(world_dir)
    resources = build_resources(settings)
    instance = dg.DagsterInstance.ephemeral()
    world.publish_weeklies(2)
    first = nppes_weekly_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(first, dg.SensorResult)
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [keys[:2]]  # oldest first
    assert [(r.partition_key, r.run_key) for r in first.run_requests] == [(k, k) for k in keys[:2]]
    assert [r["path"] for r in world.requests()] == ["/download.cms.gov/nppes/NPI_Files.html"]  # one GET, no zip
    instance.add_dynamic_partitions(nppes_weekly_partitions.name, keys[:2])  # what the daemon does with the result

    world.publish_weeklies(3)
    second = nppes_weekly_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources))
    assert [r.partition_keys for r in second.dynamic_partitions_requests] == [keys[2:]]
    assert [r.partition_key for r in second.run_requests] == keys[2:]
    instance.add_dynamic_partitions(nppes_weekly_partitions.name, keys[2:])
    assert json.loads(second.cursor) == sorted(keys)

    third = nppes_weekly_sensor(dg.build_sensor_context(instance=instance, cursor=second.cursor, resources=resources))
    assert isinstance(third, dg.SkipReason)
    # A lost cursor does not re-request what the instance already has.
    fresh = nppes_weekly_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(fresh, dg.SkipReason)


def test_monthly_build_matches_the_files_and_a_rerun_costs_one_page_request(
    settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    monthly = read_world(world_dir)["summary"]["nppes"]["monthly"]
    npidata = next(name for name in monthly["rows"] if name.startswith("npidata"))
    defs = _defs(settings)
    with dg.instance_for_test() as instance:
        result = _run(defs, "nppes_monthly_job", instance)
        assert result.success
        assert checks(result) == {
            "raw/nppes_monthly_bundle:v2_header": True,
            "warehouse/nppes_providers:one_row_per_npi": True,
        }
        bundle = metadata(result, "raw/nppes_monthly_bundle")
        assert bundle["extracted_now"] and not bundle["reused_existing_zip"] and bundle["primary_csv"] == npidata
        rows, npis, deactivated = _query(
            settings, "SELECT count(*), count(DISTINCT npi), count(*) FILTER (WHERE status = 'D') FROM nppes_providers"
        )[0]
        assert rows == npis == monthly["rows"][npidata]
        assert deactivated == monthly["deactivated"]
        for table, kind in (
            ("nppes_other_names", "othername"),
            ("nppes_practice_locations", "pl"),
            ("nppes_endpoints", "endpoint"),
        ):
            side_rows = next(n for name, n in monthly["rows"].items() if name.startswith(f"{kind}_pfile_"))
            assert _query(settings, f"SELECT count(*) FROM {table}")[0][0] == side_rows
        individual = _query(
            settings,
            "SELECT provider_name, first_name, last_name, enumeration_date, source_kind FROM nppes_providers "
            "WHERE entity_type = '1' LIMIT 1",
        )[0]
        assert individual[0] == f"{individual[1]} {individual[2]}" and individual[3].year >= 2005
        assert individual[4] == "monthly"
        before = _snapshot(settings)

        world.clear_requests()
        again = _run(defs, "nppes_monthly_job", instance)
        assert again.success
        assert [r["path"] for r in world.requests()] == ["/download.cms.gov/nppes/NPI_Files.html"]
        bundle = metadata(again, "raw/nppes_monthly_bundle")
        assert bundle["reused_existing_zip"] and not bundle["extracted_now"]
        assert metadata(again, "warehouse/nppes_providers")["rebuilt"] is False
        assert _snapshot(settings) == before


def test_weekly_changes_exactly_its_npis_and_a_rebuild_keeps_them(
    settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    spec = world_spec(world_dir)
    bundles = weekly_bundles(spec)
    keys = _weekly_keys(world_dir)
    defs = _defs(settings)
    with dg.instance_for_test() as instance:
        assert _run(defs, "nppes_monthly_job", instance).success
        before, sides_before = _snapshot(settings), _side_snapshot(settings)

        result = _weekly(settings, defs, instance, keys[0])
        assert result.success
        assert checks(result) == {
            "raw/nppes_weekly_bundle:v2_header": True,
            "warehouse/nppes_weekly_update:rows_match_file": True,
            "warehouse/nppes_weekly_update:one_row_per_npi": True,
        }
        after = _snapshot(settings)
        week = bundles[0]
        in_file = {npi_for_index(spec, i) for i in (*week.new, *week.changed, *week.deactivated)}
        changed = {npi for npi in before.keys() | after.keys() if before.get(npi) != after.get(npi)}
        assert changed == in_file
        assert set(after) - set(before) == {npi_for_index(spec, i) for i in week.new}
        deactivated = [npi_for_index(spec, i) for i in week.deactivated]
        rows = _query(
            settings,
            "SELECT status, deactivation_date, source_kind FROM nppes_providers WHERE npi IN (SELECT unnest(?))",
            [deactivated],
        )
        assert rows == [("D", week.end - timedelta(days=2), "weekly")] * len(deactivated)
        assert metadata(result, "warehouse/nppes_weekly_update")["applied_rows"] == len(in_file)
        weekly_summary = read_world(world_dir)["summary"]["nppes"]["weekly"][0]["rows"]
        pl_file, pl_rows = next((n, r) for n, r in weekly_summary.items() if n.startswith("pl_pfile_"))
        assert _query(settings, "SELECT count(*) FROM nppes_practice_locations WHERE source_file = ?", [pl_file]) == [
            (pl_rows,)
        ]
        untouched = [[row for row in table if row[0] not in in_file] for table in _side_snapshot(settings)]
        assert untouched == [[row for row in table if row[0] not in in_file] for table in sides_before]

        # Again: no download, the same table.
        world.clear_requests()
        assert _weekly(settings, defs, instance, keys[0]).success
        assert _zip_gets(world) == [] and _snapshot(settings) == after

        # A record newer than the weekly wins over it (the rule that makes any apply order safe).
        newest = sorted(in_file)[0]
        update = "UPDATE nppes_providers SET source_file = ?, source_date = ? WHERE npi = ?"
        with duckdb.connect(str(settings.warehouse_path)) as conn:
            original = conn.execute("SELECT source_file FROM nppes_providers WHERE npi = ?", [newest]).fetchone()[0]
            conn.execute(update, ["npidata_pfile_20990101-20990107.csv", date(2099, 1, 7), newest])
        rerun = _weekly(settings, defs, instance, keys[0])
        assert metadata(rerun, "warehouse/nppes_weekly_update")["superseded_rows"] == 1
        assert checks(rerun)["warehouse/nppes_weekly_update:rows_match_file"]
        assert _query(settings, "SELECT source_date FROM nppes_providers WHERE npi = ?", [newest]) == [
            (date(2099, 1, 7),)
        ]
        with duckdb.connect(str(settings.warehouse_path)) as conn:
            conn.execute(update, [original, week.end, newest])
        assert _snapshot(settings) == after

        assert _weekly(settings, defs, instance, keys[1]).success
        applied = _snapshot(settings)
        sides_applied = _side_snapshot(settings)
        rebuilt = _run(defs, "nppes_monthly_job", instance, run_config=_build_config(force=True))
        assert rebuilt.success
        assert metadata(rebuilt, "warehouse/nppes_providers")["weeklies_reapplied"] == keys[:2]
        assert _snapshot(settings) == applied and _side_snapshot(settings) == sides_applied
        assert [r[0] for r in _query(settings, "SELECT kind FROM nppes_applied_bundles ORDER BY source_date")] == [
            "monthly",
            "weekly",
            "weekly",
        ]


def test_weekly_with_a_changed_header_is_refused_and_the_table_kept(
    settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    key = _weekly_keys(world_dir)[0]
    layout = DataLayout(settings.data_dir)

    def v1_spelling(name: str, text: str) -> str:
        return text.replace('"Provider Sex Code"', '"Provider Gender Code"', 1) if "npidata" in name else text

    _rewrite_zip(_world_zip(world_dir, f"{key}.zip"), layout.nppes_weekly / f"{key}.zip", v1_spelling)
    defs = _defs(settings)
    with dg.instance_for_test() as instance:
        assert _run(defs, "nppes_monthly_job", instance).success
        before = _snapshot(settings)
        world.clear_requests()
        result = _weekly(settings, defs, instance, key)
        assert _zip_gets(world) == []  # the zip already there is used
        header = next(e for e in result.get_asset_check_evaluations() if e.check_name == "v2_header")
        assert not header.passed
        assert "column 42 'Provider Sex Code' is now 'Provider Gender Code'" in header.description
        assert not [e for e in result.get_asset_materialization_events() if "update" in e.asset_key.to_user_string()]
        assert _snapshot(settings) == before

        # Run on its own, the update refuses the bundle before touching the table.
        alone = dg.materialize(
            [nppes_weekly_update],
            partition_key=key,
            instance=instance,
            resources=build_resources(settings),
            raise_on_error=False,
        )
        assert not alone.success
        failure = failure_text(alone)
        assert "headers differ from the known V2 layout" in failure and "'Provider Gender Code'" in failure
        assert _snapshot(settings) == before


def test_unparseable_line_refuses_the_build_unless_tolerated(
    settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    layout = DataLayout(settings.data_dir)
    monthly = read_world(world_dir)["summary"]["nppes"]["monthly"]
    good_name = Path(monthly["zip"]).name
    bad_name = "NPPES_Data_Dissemination_November_2026_V2.zip"

    def unbalanced_quote(name: str, text: str) -> str:
        if not name.startswith("npidata") or name.endswith("_fileheader.csv"):
            return text
        lines = text.split("\n")
        lines[5] = lines[5].replace('","","', '",","', 1)  # line 6 of the file: a value loses its closing quote
        return "\n".join(lines)

    with dg.instance_for_test() as instance:
        assert _run(_defs(settings), "nppes_monthly_job", instance).success
        before, sides_before = _snapshot(settings), _side_snapshot(settings)
        good_files = sorted(p.relative_to(layout.nppes_monthly) for p in layout.nppes_monthly.rglob("*"))
        good_files.remove(Path("current.json"))

        _rewrite_zip(_world_zip(world_dir, good_name), layout.nppes_monthly / bad_name, unbalanced_quote)
        pinned = _defs(settings, nppes_monthly_url=f"{settings.nppes_files_page_url.rsplit('/', 1)[0]}/{bad_name}")
        world.clear_requests()
        result = _run(pinned, "nppes_monthly_job", instance)
        assert world.requests() == []  # pinned URL, file already there
        assert not result.success
        failure = failure_text(result)
        assert "1 line(s) could not be parsed" in failure and "line 6: " in failure and "unterminated quote" in failure
        assert _snapshot(settings) == before and _side_snapshot(settings) == sides_before
        for rel in good_files:
            assert (layout.nppes_monthly / rel).exists(), rel

        tolerated = _run(pinned, "nppes_monthly_job", instance, run_config=_build_config(max_rejected_rows=1))
        assert tolerated.success
        meta = metadata(tolerated, "warehouse/nppes_providers")
        assert len(meta["rejected_lines"]) == 1 and "line 6" in meta["rejected_lines"][0]
        assert meta["dagster/row_count"] == len(before) - 1


def test_files_page_error_names_the_page_and_writes_nothing(settings: Settings, world: WorldControl) -> None:
    world.set_faults(rate=1.0, kinds=["503"], scope="files")
    with dg.instance_for_test() as instance:
        result = _run(_defs(settings), "nppes_monthly_job", instance)
    assert not result.success
    failure = failure_text(result)
    assert "NPI_Files.html: HTTP 503" in failure
    assert not DataLayout(settings.data_dir).nppes_monthly.exists()
