"""The dbt models and marts on a small hand-made world whose answers are counted by hand; a planted broken key."""

from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.reference.nppes.keys import PROVIDER_TABLE
from medicaid_assets.defs.synthetic_medicare.keys import CLAIM_TYPES, model_key
from medicaid_assets.defs.synthetic_medicare.landing import land
from medicaid_assets.defs.synthetic_medicare.parse import SourceFile
from medicaid_assets.defs.synthetic_medicare.warehouse import synthetic_medicare_models
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.synthetic_medicare import (
    BENEFICIARY_SAMPLE,
    CLAIM_SAMPLES,
    LINE_COLUMN,
    PDE_SAMPLE,
    PROVIDER_COLUMN,
    sample_layout,
    write_rows,
)
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import checks

pytestmark = pytest.mark.slow  # two dbt builds

# Three beneficiaries in 2019: A (AL, South, female, diabetic by her claims), B (CA, West), C (NY, Northeast).
BENES = [
    ("-1", "01", "01-Jan-1950", "2", "69"),
    ("-2", "05", "01-Jan-1940", "1", "79"),
    ("-3", "33", "01-Jan-1930", "2", "89"),
]
# (type, CLM_ID, BENE_ID, lines, CLM_PMT_AMT repeated on every line, diagnosis, NPI, through date)
CLAIMS = [
    ("carrier", "101", "-1", 3, "100.00", "E119", "1000000001", "15-Mar-2019"),
    ("carrier", "102", "-2", 1, "50.00", "I10", "1000000002", "20-Mar-2019"),
    ("inpatient", "201", "-1", 2, "1000.00", "E1165", "1000000003", "10-Jun-2019"),
    ("outpatient", "301", "-3", 4, "200.00", "J449", "1000000004", "11-Jun-2019"),
    *(
        (t, str(400 + i), "-2", 1, "10.00", "I10", f"100000001{i}", "05-Jul-2019")
        for i, t in enumerate(CLAIM_TYPES[3:])
    ),
]
# (PDE_ID, BENE_ID, NDC, brand/generic, cost)
FILLS = [("-11", "-1", "00006027731", "B", "300.00"), ("-12", "-1", "00006027731", "B", "300.00")]
FILLS += [("-13", "-3", "50090443201", "G", "20.00")]


def write_world(folder: Path, claims: list[tuple]) -> list[SourceFile]:
    """The hand world in the release's own layouts (real headers; unset columns empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    header, _ = sample_layout(BENEFICIARY_SAMPLE)
    rows = [
        {
            "BENE_ID": b,
            "STATE_CODE": s,
            "COUNTY_CD": "010",
            "ZIP_CD": "01001",
            "BENE_BIRTH_DT": born,
            "SEX_IDENT_CD": sex,
            "BENE_RACE_CD": "1",
            "AGE_AT_END_REF_YR": age,
        }
        for b, s, born, sex, age in BENES
    ]
    with (folder / "beneficiary_2019.csv").open("w") as out:
        write_rows(out, header, iter(rows))
    sources = [SourceFile(folder / "beneficiary_2019.csv", "beneficiary", 2019)]
    for claim_type in CLAIM_TYPES:
        header, _ = sample_layout(CLAIM_SAMPLES[claim_type])
        lines = [
            {
                "CLM_ID": clm,
                "BENE_ID": bene,
                LINE_COLUMN.get(t, "CLM_LINE_NUM"): str(n + 1),
                "CLM_PMT_AMT": paid,
                "PRNCPAL_DGNS_CD": dx,
                PROVIDER_COLUMN.get(t, "ORG_NPI_NUM"): npi,
                "CLM_FROM_DT": thru,
                "CLM_THRU_DT": thru,
            }
            for t, clm, bene, count, paid, dx, npi, thru in claims
            if t == claim_type
            for n in range(count)
        ]
        with (folder / f"{claim_type}.csv").open("w") as out:
            write_rows(out, header, iter(lines))
        sources.append(SourceFile(folder / f"{claim_type}.csv", claim_type, None))
    header, _ = sample_layout(PDE_SAMPLE)
    fills = [
        {
            "PDE_ID": p,
            "BENE_ID": b,
            "PROD_SRVC_ID": ndc,
            "BRND_GNRC_CD": bg,
            "TOT_RX_CST_AMT": cost,
            "SRVC_DT": "01-Apr-2019",
            "DAYS_SUPLY_NUM": "30",
        }
        for p, b, ndc, bg, cost in FILLS
    ]
    with (folder / "pde.csv").open("w") as out:
        write_rows(out, header, iter(fills))
    return [*sources, SourceFile(folder / "pde.csv", "pde", None)]


def build(settings: Settings, claims: list[tuple], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    layout = DataLayout(settings.data_dir)
    for source in write_world(settings.data_dir / "hand", claims):
        land([source], layout.synthetic_medicare_landed / source.file_type)
    return dg.materialize(
        [synthetic_medicare_models], resources=build_resources(settings), instance=instance, raise_on_error=False
    )


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_models_and_marts_match_the_hand_count_and_a_broken_key_fails_its_check(tmp_path: Path) -> None:
    settings = Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path / "data")})
    settings.data_dir.mkdir(parents=True)
    with duckdb.connect(
        str(settings.warehouse_path)
    ) as conn:  # the shared NPPES table, as the reference family makes it
        conn.execute(
            f"CREATE TABLE main.{PROVIDER_TABLE} AS SELECT '1000000001' AS npi, '2' AS entity_type, "
            "'HAND CLINIC LLC' AS provider_name, DATE '2026-11-01' AS source_date"
        )
    with dg.instance_for_test() as instance:
        result = build(settings, CLAIMS, instance)
        assert result.success
        assert all(checks(result).values()) and len(checks(result)) >= 15

        # Claim lines deduplicated to CLM_ID: 8 claims of 14 lines; paid summed once per claim.
        assert query(settings, "SELECT count(*) FROM synthetic_medicare.fct_claim_line")[0][0] == 14
        assert query(settings, "SELECT count(*), sum(clm_pmt_amt) FROM synthetic_medicare.fct_claim")[0] == (
            8,
            Decimal("1390.00"),
        )
        assert query(settings, "SELECT count(*) FROM synthetic_medicare.dim_provider")[0][0] == 8
        named = query(
            settings, "SELECT provider_npi, provider_name FROM synthetic_medicare.dim_provider WHERE in_nppes"
        )
        assert named == [("1000000001", "HAND CLINIC LLC")]

        demo = query(
            settings,
            "SELECT state, region, beneficiaries, female_share, aged_85_plus_share "
            "FROM synthetic_medicare.mart_demographics ORDER BY state",
        )
        assert demo == [("AL", "South", 1, 1.0, 0.0), ("CA", "West", 1, 0.0, 0.0), ("NY", "Northeast", 1, 1.0, 1.0)]
        util = query(
            settings,
            "SELECT claims, beneficiaries, claims_per_1000 FROM synthetic_medicare.mart_utilization "
            "WHERE claim_type = 'carrier' AND month = DATE '2019-03-01'",
        )
        assert util == [(2, 3, 666.67)]
        cost = dict(
            query(
                settings,
                "SELECT category || '/' || region, cost_per_beneficiary "
                "FROM synthetic_medicare.mart_cost_per_beneficiary",
            )
        )
        assert cost["inpatient/South"] == 1000.0 and cost["part_d/South"] == 600.0 and cost["carrier/West"] == 50.0
        diabetes = query(
            settings,
            "SELECT has_diabetes, beneficiaries, prevalence, claims_per_1000, "
            "paid_per_beneficiary FROM synthetic_medicare.mart_diabetes ORDER BY 1",
        )
        assert diabetes == [(False, 2, 0.6667, 3000.0, 145.0), (True, 1, 0.3333, 2000.0, 1100.0)]
        rx = query(
            settings,
            "SELECT brand_generic, fills, total_cost_amt, cost_per_fill "
            "FROM synthetic_medicare.mart_prescriptions ORDER BY 1",
        )
        assert rx == [("brand", 2, Decimal("600.00"), 300.0), ("generic", 1, Decimal("20.00"), 20.0)]
        assert query(
            settings, "SELECT count(*) FROM synthetic_medicare.mart_provider_outliers WHERE screening_flag"
        ) == [(0,)]

        # A claim of a beneficiary no beneficiary file has: the relationships test fails as an asset check.
        broken = build(
            settings, [*CLAIMS, ("carrier", "999", "-404", 1, "5.00", "I10", "1000000001", "01-Aug-2019")], instance
        )
    assert not broken.success
    failed = [name for name, passed in checks(broken).items() if not passed]
    fct_claim = model_key("fct_claim").to_user_string()
    assert failed == [f"{fct_claim}:relationships_fct_claim_bene_id__bene_id__ref_dim_beneficiary_"]
