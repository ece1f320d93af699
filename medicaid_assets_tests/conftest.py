"""Shared fixtures: one small sample world per session, served on loopback by the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings

TEST_SPEC = WorldSpec(seed=11, scale=0.0001)
REFERENCE = Path(__file__).parent / "data" / "reference"


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "sample_world"
    generate_world(out, TEST_SPEC)
    return out


@pytest.fixture(scope="session")
def world_server(world_dir: Path) -> Iterator[WorldServer]:
    with WorldServer(world_dir) as server:
        yield server


@pytest.fixture
def world(world_server: WorldServer) -> Iterator[WorldControl]:
    """Control of the session's server, reset (no faults, empty log, all weeklies) around each test."""
    control = WorldControl(world_server.base_url)
    control.clear_faults()
    control.clear_requests()
    control.publish_weeklies(None)
    control.expire_signed_links(0)
    yield control
    control.clear_faults()
    control.publish_weeklies(None)
    control.expire_signed_links(0)


@pytest.fixture
def settings(tmp_path: Path, world_server: WorldServer) -> Settings:
    """Settings for one test: its own data dir and warehouse, every URL on the sample-world server."""
    base = Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path / "data")})
    return settings_for_world(base, world_server.base_url)
