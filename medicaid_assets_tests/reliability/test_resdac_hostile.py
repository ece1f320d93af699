"""Hostile ResDAC deliveries: each is refused with a message naming the file and the problem, and the tables an
earlier run loaded stay exactly as they were (nothing half-written, nothing read from outside the delivery)."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS
from medicaid_assets.sample_world.resdac import write_resdac_files
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.defs.resdac_medicare.support import FAMILY
from medicaid_assets_tests.reliability.harness import STATS

MEDPAR = "medpar/2016/medpar_all_file_res000000000_req000000_2016"


def _tables(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'resdac_medicare'"
            ).fetchall()
        ]
        return {n: conn.execute(f"SELECT count(*) FROM resdac_medicare.{n}").fetchone()[0] for n in names}


def _break_fts_part_name(root: Path) -> None:
    fts = root / f"{MEDPAR}.fts"
    fts.write_text(fts.read_text(encoding="latin-1").replace("Actual File Name: ", "Actual File Name: ../../../"))


def _oversized_fts(root: Path) -> None:
    with (root / f"{MEDPAR}.fts").open("ab") as handle:
        handle.truncate(5 * 1024 * 1024)


def _html_instead_of_fts(root: Path) -> None:
    (root / f"{MEDPAR}.fts").write_text("<html><body>Session expired</body></html>\n")


def _dat_without_line_ends(root: Path) -> None:
    dat = root / f"{MEDPAR}.dat"
    dat.write_bytes(dat.read_bytes().replace(b"\n", b""))


def _sas_garbage(root: Path) -> None:
    (root / "inpatient" / "2010" / "inpatient_2010.xpt").write_bytes(b"HEADER RECORD*******garbage" * 100)


CASES = {
    "part name escaping the folder": (_break_fts_part_name, "not plain file names"),
    "oversized FTS": (_oversized_fts, "larger than any FTS"),
    "HTML instead of an FTS": (_html_instead_of_fts, "not a File Transfer Summary"),
    ".dat without line ends": (_dat_without_line_ends, "no line end"),
    "garbage SAS transport file": (_sas_garbage, "inpatient_2010.xpt"),
}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resdac-hostile")
    write_resdac_files(WorldSpec(scale=0.00001), out)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_delivery_is_refused_and_earlier_tables_stay(tmp_path, delivery, case):
    spoil, expected = CASES[case]
    root = tmp_path / "in"
    shutil.copytree(delivery, root)
    settings = Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path / "data"), "MEDICAID_RESDAC_INPUT_DIR": str(root)})
    with dg.instance_for_test() as instance:
        run = dg.materialize(FAMILY, resources=build_resources(settings), instance=instance, tags=FULL_REFRESH_TAGS)
        assert run.success
        before = _tables(settings)
        spoil(root)
        # Changed files are loaded again (their fingerprint moved); the hostile one must refuse.
        for path in root.rglob("*"):
            if path.is_file():
                path.touch()
        STATS.add("hostile_inputs")
        result = dg.materialize(
            FAMILY, resources=build_resources(settings), instance=instance, tags=FULL_REFRESH_TAGS, raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    message = " ".join(filter(None, [error.message, error.cause.message if error.cause else ""]))
    assert expected in message, message
    assert _tables(settings) == before
    STATS.add("hostile_rejected")
