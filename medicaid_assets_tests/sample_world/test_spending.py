"""The sample spending files: real schema, real quirks, and the same bytes for the same spec."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.sample_world.providers import index_for_npi, npi_for_index, provider
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.spending import dataset_npi_pool, variant_rows, write_spending_files
from medicaid_assets.sample_world.urls import SPENDING_V2_URL, disk_path
from medicaid_assets.settings import DEFAULT_SPENDING_URL

SPEC = WorldSpec(seed=3, scale=0.0001)
MAIN = disk_path(DEFAULT_SPENDING_URL)
V2 = disk_path(SPENDING_V2_URL)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    files = tmp_path_factory.mktemp("world")
    return files, write_spending_files(SPEC, files)


@pytest.fixture(scope="module")
def main(world: tuple[Path, dict]) -> pa.Table:
    return pq.read_table(world[0] / MAIN)


@pytest.fixture(scope="module")
def variant(world: tuple[Path, dict]) -> pa.Table:
    return pq.read_table(world[0] / V2)


def npi_values(table: pa.Table) -> set[str]:
    cols = ("BILLING_PROVIDER_NPI_NUM", "SERVICING_PROVIDER_NPI_NUM")
    return {v for c in cols for v in table.column(c).unique().to_pylist() if v is not None}


def test_same_spec_same_bytes_other_seed_other_bytes(world: tuple[Path, dict], tmp_path: Path) -> None:
    again = write_spending_files(SPEC, tmp_path / "again")
    other = write_spending_files(WorldSpec(seed=4, scale=0.0001), tmp_path / "other")
    files, summary = world
    assert again == summary
    for rel in (MAIN, V2):
        assert (tmp_path / "again" / rel).read_bytes() == (files / rel).read_bytes()
        assert (tmp_path / "other" / rel).read_bytes() != (files / rel).read_bytes()
    assert other != summary


def test_only_the_final_files_are_left(world: tuple[Path, dict]) -> None:
    files, _ = world
    assert sorted(p.relative_to(files) for p in files.rglob("*") if p.is_file()) == sorted([Path(MAIN), Path(V2)])


def test_summary_is_json_and_matches_the_files(world: tuple[Path, dict], main: pa.Table, variant: pa.Table) -> None:
    _, summary = world
    assert json.loads(json.dumps(summary)) == summary
    first, second = summary["files"][str(MAIN)], summary["files"][str(V2)]
    assert (
        (first["rows"], second["rows"]) == (main.num_rows, variant.num_rows) == (SPEC.spending_rows, variant_rows(SPEC))
    )
    assert first["blank_servicing"] == main.column("SERVICING_PROVIDER_NPI_NUM").null_count
    assert first["billing_npis"] == len(main.column("BILLING_PROVIDER_NPI_NUM").unique())
    assert first["npis"] == len(npi_values(main))
    assert first["code_values"] == len(main.column("HCPCS_CODE").unique())
    assert first["zero_paid"] == pc.sum(pc.equal(main.column("TOTAL_PAID"), 0.0)).as_py()


def test_exact_schemas(world: tuple[Path, dict]) -> None:
    files, _ = world
    strings = [("BILLING_PROVIDER_NPI_NUM", pa.string()), ("SERVICING_PROVIDER_NPI_NUM", pa.string())]
    strings.append(("HCPCS_CODE", pa.string()))
    main = [("CLAIM_FROM_MONTH", pa.date32()), ("TOTAL_UNIQUE_BENEFICIARIES", pa.int64())]
    main += [("TOTAL_CLAIMS", pa.int64()), ("TOTAL_PAID", pa.float64())]
    later = [("CLAIM_FROM_MONTH", pa.string()), ("TOTAL_PATIENTS", pa.int64())]
    later += [("TOTAL_CLAIM_LINES", pa.int64()), ("TOTAL_PAID", pa.float64())]
    for rel, expected in ((MAIN, strings + main), (V2, strings + later)):
        schema = pq.read_schema(files / rel)
        assert [(f.name, f.type) for f in schema] == expected
        assert not schema.metadata or set(schema.metadata) == {b"ARROW:schema"}


def test_months_are_2018_to_2024(main: pa.Table, variant: pa.Table) -> None:
    months = set(main.column("CLAIM_FROM_MONTH").to_pylist())
    assert min(months) == date(2018, 1, 1) and max(months) == date(2024, 12, 1)
    assert len(months) == 84 and {m.day for m in months} == {1}
    texts = set(variant.column("CLAIM_FROM_MONTH").to_pylist())
    assert all(re.fullmatch(r"20(1[89]|2[0-4])-(0[1-9]|1[0-2])", t) for t in texts)


@pytest.mark.parametrize(
    "names", [("TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_CLAIMS"), ("TOTAL_PATIENTS", "TOTAL_CLAIM_LINES")]
)
def test_claims_are_suppressed_below_12(main: pa.Table, variant: pa.Table, names: tuple[str, str]) -> None:
    table = main if names[0] in main.column_names else variant
    beneficiaries, claims = (table.column(n).to_numpy() for n in names)
    assert claims.min() >= 12
    assert (beneficiaries >= 1).all() and (beneficiaries <= claims).all()
    assert (beneficiaries < 12).any()


def test_paid_has_zeros_negatives_and_a_skewed_tail(main: pa.Table, variant: pa.Table) -> None:
    paid = main.column("TOTAL_PAID").to_numpy()
    assert 0.12 < (paid == 0).mean() < 0.2
    assert (paid < 0).sum() >= 1 and (variant.column("TOTAL_PAID").to_numpy() < 0).sum() >= 1
    positive = paid[paid > 0]
    assert positive.mean() > 2 * float(sorted(positive)[len(positive) // 2])  # mean well above median
    assert (abs(paid * 100 - (paid * 100).round()) < 1e-6).all()  # cents


def test_servicing_blank_and_self_billed_shares(main: pa.Table) -> None:
    billing, servicing = main.column("BILLING_PROVIDER_NPI_NUM"), main.column("SERVICING_PROVIDER_NPI_NUM")
    assert 0.02 < servicing.null_count / main.num_rows < 0.07
    same = pc.sum(pc.fill_null(pc.equal(billing, servicing), False)).as_py()
    assert 0.2 < same / main.num_rows < 0.4


def test_billing_npis_are_fewer_and_more_concentrated(main: pa.Table) -> None:
    billing = main.column("BILLING_PROVIDER_NPI_NUM").value_counts()
    servicing = main.column("SERVICING_PROVIDER_NPI_NUM").drop_null().value_counts()
    assert len(billing) < len(servicing)
    assert max(billing.field("counts").to_pylist()) > max(servicing.field("counts").to_pylist())


def test_file_uses_exactly_the_npi_pool(main: pa.Table, variant: pa.Table) -> None:
    billing, servicing = dataset_npi_pool(SPEC)
    for table in (main, variant):
        assert set(table.column("BILLING_PROVIDER_NPI_NUM").to_pylist()) == set(billing)
        assert set(table.column("SERVICING_PROVIDER_NPI_NUM").drop_null().to_pylist()) == set(servicing)


def test_valid_npis_come_from_every_index_range(main: pa.Table) -> None:
    values = npi_values(main)
    valid = {v for v in values if is_valid_npi(v)}
    assert len(valid) == SPEC.dataset_npis
    indices = {index_for_npi(SPEC, v) for v in valid}
    assert None not in indices and max(indices) < SPEC.range_unknown().stop
    for whole in (SPEC.range_api_only(), SPEC.range_unknown(), SPEC.range_weekly_new()):
        assert {npi_for_index(SPEC, i) for i in whole} <= valid
    registered = [i for i in indices if i in SPEC.range_registered()]
    deactivated = sum(provider(SPEC, i).deactivated for i in registered)
    assert 0 < deactivated < len(registered) / 5


def test_junk_npis_of_every_kind(main: pa.Table) -> None:
    junk = {v for v in npi_values(main) if not is_valid_npi(v)}
    assert "0000000000" in junk
    assert any(not v.isdigit() for v in junk)
    assert any(v.isdigit() and len(v) == 9 for v in junk)
    assert any(v.isdigit() and len(v) == 11 for v in junk)
    assert any(v.isdigit() and len(v) == 10 and v != "0000000000" for v in junk)  # bad check digit


def test_code_values_cover_the_universe_and_its_junk(world: tuple[Path, dict], main: pa.Table) -> None:
    codes = set(main.column("HCPCS_CODE").to_pylist())
    assert len({c.strip().upper() for c in codes}) == SPEC.distinct_codes
    assert {"0", "NULL", "NA"} <= codes
    assert any(re.fullmatch(r"\d{5}", c) for c in codes)  # CPT
    assert any(re.fullmatch(r"[A-CEGHJ-MP-V]\d{4}", c) for c in codes)  # Level II
    assert any(re.fullmatch(r"D\d{4}", c) for c in codes)  # dental
    assert any(c != c.strip() for c in codes) and any(c != c.upper() for c in codes)
    assert world[1]["files"][str(MAIN)]["codes"] == SPEC.distinct_codes


def test_small_chunks_keep_every_value_and_write_one_row_group_each(main: pa.Table, tmp_path: Path) -> None:
    summary = write_spending_files(SPEC, tmp_path, chunk_rows=5_000)
    small = pq.ParquetFile(tmp_path / MAIN)
    assert small.metadata.num_row_groups == summary["files"][str(MAIN)]["row_groups"] == 5
    assert max(small.metadata.row_group(i).num_rows for i in range(5)) <= 5_000
    table = small.read()
    assert npi_values(table) == npi_values(main)
    assert set(table.column("HCPCS_CODE").to_pylist()) == set(main.column("HCPCS_CODE").to_pylist())
