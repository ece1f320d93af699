"""Dimensions from the shared reference data: dim_code from the code set built off the sample world's CMS zip,
dim_npi and dim_npi_address from the NPPES provider table built off its monthly bundle, narrowed to the NPIs a
price-transparency file names (the sample payers' NPIs are the world's NPPES providers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, PAYER_TOC, TOC_PARTITIONS, toc_partition_key
from medicaid_assets.defs.rates_warehouse.code_groups import procedure_group
from medicaid_assets.defs.rates_warehouse.keys import DIM_NPI, DIM_NPI_ADDRESS
from medicaid_assets.sample_world.price_transparency import world_catalog
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.settings import Settings


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("99213", ("Evaluation and Management", "Office/outpatient services")),
        ("99285", ("Evaluation and Management", "Emergency department services")),
        ("27447", ("Surgery", "Musculoskeletal system")),
        ("45378", ("Surgery", "Digestive system")),
        ("73721", ("Radiology", "Diagnostic radiology")),
        ("00100", ("Anesthesia", "Anesthesia")),
        ("80053", ("Pathology and Laboratory", "Pathology and laboratory")),
        ("G0463", ("HCPCS Level II", "Procedures and professional services (temporary)")),
        ("0001U", ("Other CPT categories", "Proprietary laboratory analyses")),
        ("T1019", ("HCPCS Level II", "State Medicaid agency codes")),
        ("9921", ("Unknown", "Unknown")),
    ],
)
def test_procedure_groups(code: str, group: tuple[str, str]) -> None:
    assert procedure_group(code) == group


@pytest.mark.slow
def test_dimensions_from_the_reference_tables(
    settings: Settings, world_server: WorldServer, world: WorldControl, tmp_path: Path
) -> None:
    catalog = world_catalog(world_server.base_url, tmp_path / "payers.yaml")
    settings = replace(settings, pt_catalog=catalog, pt_allow_private_urls=True)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("nppes_monthly_job").execute_in_process(instance=instance).success
        # before any price-transparency file is read, the provider dimensions are empty (not an error)
        npi_dims = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={DIM_NPI, DIM_NPI_ADDRESS})
        assert npi_dims.execute_in_process(instance=instance).success
        base = settings.data_dir / "assets" / "rates_warehouse"
        assert pl.read_parquet(base / "dim_npi.parquet").height == 0
        toc_key = toc_partition_key("uhc_tpa_sample", datetime.now(UTC).strftime("%Y-%m"))  # sample ToCs: no date
        instance.add_dynamic_partitions(TOC_PARTITIONS, [toc_key])
        toc = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={PAYER_TOC})
        assert toc.execute_in_process(instance=instance, partition_key=toc_key).success
        (key,) = instance.get_dynamic_partitions(FILE_PARTITIONS)
        files = defs.resolve_job_def("price_transparency_files")
        assert files.execute_in_process(instance=instance, partition_key=key).success
        code_sets = dg.AssetSelection.groups("code_sets").resolve(defs.resolve_asset_graph())
        assert (
            defs.resolve_implicit_global_asset_job_def()
            .get_subset(asset_selection=code_sets)
            .execute_in_process(instance=instance)
            .success
        )
        assert defs.resolve_job_def("rates_dimensions_job").execute_in_process(instance=instance).success
    codes = pl.read_parquet(base / "dim_code.parquet")
    assert codes["code"].is_unique().all()
    knee = codes.filter(pl.col("code") == "99213").row(0, named=True)
    assert (knee["code_type"], knee["procedure_set"], knee["procedure_class"]) == (
        "CPT", "Evaluation and Management", "Office/outpatient services",
    )  # fmt: skip
    npis = pl.read_parquet(base / "dim_npi.parquet")
    addresses = pl.read_parquet(base / "dim_npi_address.parquet")
    named = set(pl.read_parquet(settings.data_dir / "assets" / "price_transparency" / "providers")["npi"])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        (nppes,) = conn.execute("SELECT count(*) FROM nppes_providers").fetchone()
        known = {n for (n,) in conn.execute("SELECT npi FROM nppes_providers").fetchall()}
        (organizations,) = conn.execute(
            "SELECT count(*) FROM nppes_providers WHERE entity_type = '2' AND npi IN (SELECT unnest(?))", [list(named)]
        ).fetchone()
    assert named and named <= known  # every NPI the payer names is a provider of the world's NPPES
    assert set(npis["npi"]) == named and npis["npi"].is_unique().all() and npis.height < nppes  # narrowed
    assert npis.filter(pl.col("enumeration_type") == "organization").height == organizations
    assert addresses.height == 2 * npis.height  # a mailing and a practice-location row per NPI, as the original
    assert set(addresses["address_purpose"]) == {"MAILING", "LOCATION"}
    iceberg = defs.resources["iceberg"]
    with iceberg.duckdb() as conn:
        for name, frame in (("dim_code", codes), ("dim_npi", npis), ("dim_npi_address", addresses)):
            (rows,) = conn.sql(f"SELECT count(*) FROM {iceberg.scan_sql(name)}").fetchone()
            assert rows == frame.height, name
