"""A small generated ResDAC delivery, shared by the tests of a module."""

from pathlib import Path

import pytest

from medicaid_assets.sample_world.resdac import write_resdac_files
from medicaid_assets.sample_world.spec import WorldSpec


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("resdac")
    return out, write_resdac_files(WorldSpec(scale=0.00002), out)
