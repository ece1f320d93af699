"""Generate a whole sample world into one folder, atomically, and describe it in ``world.json``."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from medicaid_assets.core.download import sha256_file
from medicaid_assets.sample_world.cpt_archives import write_cpt_files
from medicaid_assets.sample_world.fee_schedules import write_fee_schedule_files
from medicaid_assets.sample_world.nppes_files import write_nppes_files
from medicaid_assets.sample_world.nucc_taxonomy import write_nucc_files
from medicaid_assets.sample_world.pfs_release import write_pfs_files
from medicaid_assets.sample_world.price_transparency import write_price_transparency_files
from medicaid_assets.sample_world.resdac import write_resdac_files
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.spending import write_spending_files
from medicaid_assets.sample_world.synthetic_medicare import write_synthetic_medicare_files

WORLD_JSON = "world.json"


def read_world(world_dir: Path) -> dict:
    """The ``world.json`` of a generated world (raises FileNotFoundError naming the folder)."""
    path = world_dir / WORLD_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{world_dir} is not a sample world (no {WORLD_JSON}); run `sample-world generate`")
    return json.loads(path.read_text())


def world_spec(world_dir: Path) -> WorldSpec:
    return WorldSpec(**read_world(world_dir)["spec"])


def is_current(world_dir: Path, spec: WorldSpec) -> bool:
    """True when ``world_dir`` holds a complete world generated from ``spec``."""
    try:
        info = read_world(world_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if info.get("spec") != asdict(spec):
        return False
    files = world_dir / "files"
    return all(
        (files / rel).is_file() and (files / rel).stat().st_size == meta["size"] for rel, meta in info["files"].items()
    )


def generate_world(out_dir: Path, spec: WorldSpec, force: bool = False) -> dict:
    """Write the world for ``spec`` to ``out_dir`` and return its ``world.json`` content.

    The world is built in a sibling temp folder and swapped in at the end, so an interrupted run
    never leaves a half-written world behind; an up-to-date world is reused unless ``force``.
    """
    out_dir = out_dir.resolve()
    if not force and is_current(out_dir, spec):
        return read_world(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    files = tmp / "files"
    files.mkdir(parents=True)
    summary = {
        "spending": write_spending_files(spec, files),
        "nppes": write_nppes_files(spec, files),
        "cpt": write_cpt_files(spec, files),
        "resdac_medicare": write_resdac_files(spec, files / "resdac"),  # files on disk: ResDAC does not serve HTTP
        "pfs": write_pfs_files(spec, files),
        "nucc": write_nucc_files(files),
        "synthetic_medicare": write_synthetic_medicare_files(spec, files),
        "price_transparency": write_price_transparency_files(spec, files),
        "fee_schedules": write_fee_schedule_files(spec, files),
    }
    listing = {
        str(p.relative_to(files)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(files.rglob("*"))
        if p.is_file()
    }
    info = {"spec": asdict(spec), "summary": summary, "files": listing}
    (tmp / WORLD_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return info
