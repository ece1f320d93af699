"""The CPT/HCPCS archives and fallback assets, against the sample-world server and its real zip."""

import csv
import zipfile
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

import medicaid_assets
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.reference.code_sets.assets import cpt_archives, cpt_hcpcs_fallback
from medicaid_assets.defs.reference.code_sets.fallback import COLUMNS
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.cpt_archives import CPT_INDEX_URL, CPT_ZIP_URL
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import disk_path, local_url
from medicaid_assets.sample_world.world import world_spec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import failure_text, metadata

ASSETS = [cpt_archives, cpt_hcpcs_fallback]
ZIP_NAME = "pfrev26a-updated-01-09-2026.zip"
FORMATS = Path(medicaid_assets.__file__).parent / "formats"


def _run(
    settings: Settings,
    zip_urls: list[str] | None = None,
    overlays_dir: Path | None = None,
    max_extract_bytes: int | None = None,
) -> dg.ExecuteInProcessResult:
    resources = build_resources(settings)
    resources["sources"] = SourcesResource(
        spending_url=settings.spending_url,
        nppes_files_page_url=settings.nppes_files_page_url,
        cpt_index_url=settings.cpt_index_url,
        cpt_zip_urls=zip_urls or [],
    )
    resources["data"] = DataDirResource(
        data_dir=str(settings.data_dir),
        overlays_dir=str(overlays_dir or settings.overlays_dir),
        max_extract_bytes=max_extract_bytes or settings.max_extract_bytes,
    )
    return dg.materialize(ASSETS, resources=resources, raise_on_error=False)


def _zip_url(world_server: WorldServer) -> str:
    return local_url(world_server.base_url, CPT_ZIP_URL)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fallback(settings: Settings) -> Path:
    return settings.data_dir / "raw" / "cpt" / "cpt_hcpcs_fallback.csv"


def _real_descriptor(code: str) -> str:
    """The descriptor of ``code`` in the real PPRRVU samples (row without modifier)."""
    for sample in ("pprrvu_sample.csv", "pfs_pprrvu2025_oct_selected_codes.csv", "pfs_pprrvu2025_oct_head70.csv"):
        for row in csv.reader((FORMATS / sample).read_text(encoding="latin-1").splitlines()[10:]):
            if row[0] == code and not row[1]:
                return row[2]
    raise KeyError(code)


def test_fallback_of_the_world_has_every_described_code_with_its_real_description(
    settings: Settings, world: WorldControl, world_server: WorldServer, world_dir: Path
) -> None:
    result = _run(settings, [_zip_url(world_server)])
    assert result.success
    path = _fallback(settings)
    with path.open(newline="") as fh:
        assert fh.readline().rstrip("\n") == ",".join(COLUMNS)
    rows = list(csv.DictReader(path.open(newline="")))
    codes = [r["hcpcs_code"] for r in rows]
    assert codes == sorted(set(codes))  # one row per code, sorted
    universe = {c.code: c for c in code_universe(world_spec(world_dir))}
    assert set(codes) == {c for c, x in universe.items() if x.in_pprrvu or x.in_level2_file}
    for row in rows:
        code = universe[row["hcpcs_code"]]
        if code.in_level2_file:  # the Level II annual file: long description over continuation records, dates
            rec = code.records[0]
            assert row["source_file"].endswith("RVU26A/HCPC2026_JAN_ANWEB/HCPC2026_JAN_ANWEB.csv")
            assert (row["short_desc"], row["long_desc"]) == (rec.short_desc, rec.long_desc)
            assert (row["add_dt"], row["act_eff_dt"], row["term_dt"]) == (rec.add_dt, rec.act_eff_dt, rec.term_dt)
            assert (row["obsolete"], row["is_noc"]) == (str(rec.obsolete).lower(), str(rec.is_noc).lower())
        else:  # PPRRVU: the real short descriptor, not a placeholder
            assert row["source_file"] == f"archives/{ZIP_NAME[:-4]}/PFREV26A/RVU26A/PPRRVU2026_Jan.csv"
            assert row["short_desc"] == code.short_desc.strip() and row["long_desc"] == ""
            assert row["obsolete"] == str(code.status in "DF").lower()
    by_code = {r["hcpcs_code"]: r for r in rows}
    assert by_code["99213"]["short_desc"] == _real_descriptor("99213") == "Office o/p est low 20 min"
    assert by_code["0001F"]["short_desc"] == "Heart failure composite"
    assert not any(r["short_desc"].startswith("CPT/HCPCS code from CMS PFS file") for r in rows)

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"one_row_per_code": True, "codes_well_formed": True}
    meta = metadata(result, "raw/cpt_hcpcs_fallback")
    assert meta["dagster/row_count"] == len(rows)
    per_file = {k.rsplit("/", 1)[-1]: v for k, v in meta["rows_per_source_file"].items()}
    assert per_file["PPRRVU2026_Jan.csv"] + per_file["HCPC2026_JAN_ANWEB.csv"] == len(rows)
    assert per_file["PFALL26AR.txt"] == per_file["PPRRVU2026_Jan.txt"] == 0
    assert [c.name for c in meta["dagster/column_schema"].columns] == list(COLUMNS)

    archives = metadata(result, "raw/cpt_archives")
    [entry] = archives["archives"]
    zip_path = settings.data_dir / "raw" / "cpt" / "archives" / ZIP_NAME
    assert entry["bytes"] == zip_path.stat().st_size and entry["downloaded"] and entry["extracted"]
    assert entry["etag"] and len(entry["sha256"]) == 64
    assert archives["extracted_file_count"] == 5
    # Nested zips became folders, the trailing space of "PFREV26AR_nonQP " is gone, overlays are in.
    extracted = settings.data_dir / "raw" / "cpt" / "archives" / ZIP_NAME[:-4] / "PFREV26A"
    assert sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*") if p.is_file()) == [
        "PFREV26AR_nonQP/PFALL26AR.txt",
        "PFREV26AR_nonQP/csv/headers.csv",
        "PFREV26AR_nonQP/csv/status_code.csv",
        "PFREV26AR_nonQP/status_code.csv",
        "RVU26A/HCPC2026_JAN_ANWEB/HCPC2026_JAN_ANWEB.csv",
        "RVU26A/PPRRVU2026_Jan.csv",
        "RVU26A/PPRRVU2026_Jan.txt",
    ]
    assert archives["overlay_files_written"] == 2


def test_auto_discovery_takes_the_updated_zip_and_a_rerun_requests_nothing(
    settings: Settings, world: WorldControl, world_server: WorldServer
) -> None:
    result = _run(settings)
    assert result.success
    index_path = "/" + str(disk_path(CPT_INDEX_URL))
    assert [(r["method"], r["path"], r["status"]) for r in world.requests()] == [
        ("GET", index_path, 200),
        ("GET", "/files/zip/" + ZIP_NAME, 200),  # the page's root-relative link
    ]
    meta = metadata(result, "raw/cpt_archives")
    assert meta["auto_discovered_from"] == settings.cpt_index_url
    assert meta["urls"] == [f"{world_server.base_url}/files/zip/{ZIP_NAME}"]
    fallback = _fallback(settings)
    before, mtime = fallback.read_bytes(), fallback.stat().st_mtime_ns

    world.clear_requests()
    again = _run(settings)
    assert again.success
    assert world.requests() == []  # local data exists: no page, no download
    assert not metadata(again, "raw/cpt_archives")["archives"][0]["extracted"]
    assert metadata(again, "raw/cpt_hcpcs_fallback")["rewritten"] is False
    assert fallback.read_bytes() == before and fallback.stat().st_mtime_ns == mtime


def test_explicit_url_is_reused_without_a_request_and_nothing_is_re_extracted(
    settings: Settings, world: WorldControl, world_server: WorldServer
) -> None:
    assert _run(settings, [_zip_url(world_server)]).success
    archives = settings.data_dir / "raw" / "cpt" / "archives"
    stamps = {p: p.stat().st_mtime_ns for p in archives.rglob("*")}
    world.clear_requests()
    again = _run(settings, [_zip_url(world_server)])
    assert again.success
    assert world.requests() == []
    [entry] = metadata(again, "raw/cpt_archives")["archives"]
    assert not entry["downloaded"] and not entry["extracted"]
    assert {p: p.stat().st_mtime_ns for p in archives.rglob("*")} == stamps


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ("<html><body><a href='/files/document/readme.pdf'>readme</a></body></html>", "links no .zip file"),
        (None, "HTTP 404"),
    ],
)
def test_an_index_page_without_a_zip_fails_clearly(
    settings: Settings, world: WorldControl, world_server: WorldServer, world_dir: Path, page: str | None, error: str
) -> None:
    name = f"index-{error.split()[-1]}"
    if page is not None:
        (world_dir / "files" / "hostile.example" / "cpt").mkdir(parents=True, exist_ok=True)
        (world_dir / "files" / "hostile.example" / "cpt" / name).write_text(page)
    index = f"{world_server.base_url}/hostile.example/cpt/{name}"
    message = failure_text(_run(replace(settings, cpt_index_url=index)))
    assert f"CPT index page {index}" in message and error in message and "pass cpt_zip_urls instead" in message
    assert not (settings.data_dir / "raw" / "cpt" / "archives").exists()


def test_local_files_are_used_without_discovery(settings: Settings, world: WorldControl) -> None:
    mine = settings.data_dir / "raw" / "cpt" / "my_codes.tsv"
    mine.parent.mkdir(parents=True)
    mine.write_text("hcpcs_code\tshort_desc\tlong_desc\nT1019\tPersonal care\tPersonal care services, per 15 minutes\n")
    result = _run(settings)
    assert result.success and world.requests() == []
    assert _fallback(settings).read_text().splitlines()[1:] == [
        'T1019,Personal care,"Personal care services, per 15 minutes",,,,false,false,my_codes.tsv'
    ]


def test_overlays_md_folder_is_copied_when_present(
    settings: Settings, world: WorldControl, world_server: WorldServer, tmp_path: Path
) -> None:
    overlays = tmp_path / "overlays" / "PFREV26AR_nonQP"
    (overlays / "md").mkdir(parents=True)
    (overlays / "md" / "status_codes.md").write_text("# Status codes\n")
    (overlays / "csv").mkdir()
    (overlays / "csv" / "status_code.csv").write_text("Status Code,Description\nA,Active\n")
    result = _run(settings, [_zip_url(world_server)], overlays_dir=tmp_path / "overlays")
    assert result.success
    target = settings.data_dir / "raw" / "cpt" / "archives" / ZIP_NAME[:-4] / "PFREV26A" / "PFREV26AR_nonQP"
    assert (target / "md" / "status_codes.md").read_text() == "# Status codes\n"
    assert (target / "csv" / "status_code.csv").read_text().endswith("A,Active\n")
    assert metadata(result, "raw/cpt_archives")["overlay_targets"] == [f"{ZIP_NAME[:-4]}/PFREV26A/PFREV26AR_nonQP"]


@pytest.fixture
def good_state(settings: Settings, world: WorldControl, world_server: WorldServer) -> dict[str, bytes]:
    """A successful first run; returns every file under raw/cpt, to compare after a failed run."""
    assert _run(settings, [_zip_url(world_server)]).success
    world.clear_requests()
    return _tree(settings.data_dir / "raw" / "cpt")


def test_an_html_page_instead_of_a_zip_fails_clearly_and_loses_nothing(
    settings: Settings, good_state: dict[str, bytes]
) -> None:
    message = failure_text(_run(settings, [settings.cpt_index_url]))
    assert settings.cpt_index_url in message and "HTML page instead of the file" in message
    assert _tree(settings.data_dir / "raw" / "cpt") == good_state


def _hostile_zip(path: Path, name: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/codes.csv", "code,description\nZ9999,hostile\n")
        zf.writestr(zipfile.ZipInfo(name), "escaped\n")
    return path


@pytest.mark.parametrize("member", ["../x.csv", "/tmp/abs_x.csv"])
def test_a_zip_escaping_its_folder_is_refused_whether_downloaded_or_local(
    settings: Settings, good_state: dict[str, bytes], world_server: WorldServer, world_dir: Path, member: str
) -> None:
    name = f"escape-{len(member)}.zip"
    _hostile_zip(world_dir / "files" / "hostile.example" / "cpt" / name, member)
    message = failure_text(_run(settings, [f"{world_server.base_url}/hostile.example/cpt/{name}"]))
    assert f"member {member!r} would escape the target folder" in message and "nothing was replaced" in message
    assert _tree(settings.data_dir / "raw" / "cpt") == good_state
    # The same zip dropped into archives/ by hand is refused at extraction, before anything is written.
    local = _hostile_zip(settings.data_dir / "raw" / "cpt" / "archives" / name, member)
    message = failure_text(_run(settings))
    assert f"member {member!r} would escape the target folder" in message
    assert _tree(settings.data_dir / "raw" / "cpt") == {**good_state, f"archives/{name}": local.read_bytes()}
    assert (
        not (settings.data_dir / "raw" / "cpt" / "archives" / "x.csv").exists() and not Path("/tmp/abs_x.csv").exists()
    )


def test_a_zip_expanding_past_the_bound_is_refused_before_writing(
    settings: Settings, world: WorldControl, world_server: WorldServer, world_dir: Path
) -> None:
    zip_file = world_dir / "files" / disk_path(CPT_ZIP_URL)
    with zipfile.ZipFile(zip_file) as zf:
        declared = sum(i.file_size for i in zf.infolist())
    # Declared sizes already pass the bound: refused at download, the zip is not kept.
    message = failure_text(_run(settings, [_zip_url(world_server)], max_extract_bytes=declared - 1))
    assert f"expands to more than {declared - 1:,} bytes" in message and _zip_url(world_server) in message
    assert not (settings.data_dir / "raw" / "cpt").exists() or _tree(settings.data_dir / "raw" / "cpt") == {}
    # Only the nested zips pass it: its extraction is refused, no folder written, and the download is moved aside
    # (as <zip>.rejected), so later runs are not refused for it again.
    message = failure_text(_run(settings, [_zip_url(world_server)], max_extract_bytes=declared + 1))
    assert f"RVU26A.zip: expands to more than {declared + 1:,} bytes" in message
    archives = settings.data_dir / "raw" / "cpt" / "archives"
    assert sorted(p.name for p in archives.iterdir()) == [ZIP_NAME + ".rejected"]
    assert not _fallback(settings).exists()
