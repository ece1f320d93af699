"""``medicaid-assets pt-structure``: a payer's files described from their first items, through the structure asset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medicaid_assets.cli import main
from medicaid_assets.sample_world.price_transparency import world_catalog
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.settings import Settings


@pytest.mark.slow
def test_pt_structure_reports_each_files_shape_as_json_and_a_table(
    settings: Settings,
    world_server: WorldServer,
    world: WorldControl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in settings.env().items():
        if value:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEDICAID_PT_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("COLUMNS", "240")  # rich fits the table to the terminal
    catalog = world_catalog(world_server.base_url, tmp_path / "payers.yaml")
    home = ["--catalog", str(catalog), "--dagster-home", str(tmp_path / "dagster_home")]
    assert main(["pt-structure", "carefirst_sample", "--json", "--items", "5", *home]) == 0
    (shape,) = json.loads(capsys.readouterr().out).values()
    assert shape["generation"] == "v1" and shape["items_read"] == 5 and shape["handler"] == "standard"
    assert shape["remote_references"] == shape["float_reference_ids"] == 370  # all before in_network
    assert shape["last_updated_on_format"] == "YYYY-MM-DD"
    raw = settings.data_dir / "raw" / "price_transparency"
    assert not list(raw.glob("carefirst_sample/*"))  # the .json.gz was read over HTTP, never downloaded
    assert main(["pt-structure", "dean_sample", *home]) == 0
    out = capsys.readouterr().out
    assert "dean_sample: in-network files (first 50 items each)" in " ".join(out.split())
    (row,) = [line for line in out.splitlines() if "dean_in-network" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[1:3] == ["zip", "v1"] and cells[-2:] == ["MM/DD/YYYY", "standard"]
    assert list(raw.glob("dean_sample/*.zip"))  # a zip is read from its end: downloaded first
