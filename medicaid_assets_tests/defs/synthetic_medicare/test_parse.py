"""Both header layouts on the real rows: the public release and the BFD RIF, normalized by one synonym map."""

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from medicaid_assets.defs.synthetic_medicare.landing import land
from medicaid_assets.defs.synthetic_medicare.parse import (
    LayoutError,
    SourceFile,
    classify,
    column_type,
    normalize,
    read_header,
    select_sql,
)
from medicaid_assets_tests.conftest import REFERENCE

PUBLIC_2019 = REFERENCE / "synth_pub_beneficiary_2019_head21.csv"
PUBLIC_2025 = REFERENCE / "synth_pub_beneficiary_2025_head11.csv"
RIF_2015 = REFERENCE / "synth_rif_beneficiary_2015.csv"
RIF_2021 = REFERENCE / "synth_rif_beneficiary_2021.csv"


def rows(path: Path, file_type: str, year: int | None = None) -> list[dict]:
    with duckdb.connect() as conn:
        result = conn.execute(select_sql(SourceFile(path, file_type, year), read_header(path)))
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def test_public_release_rows_keep_leading_zeros_and_parse_dates_and_na() -> None:
    got = rows(PUBLIC_2019, "beneficiary", 2019)
    assert len(got) == 20 and len(got[0]) == 185 + 1  # 185 columns and the year
    first = got[0]
    # -10000010254618|01|1500|36109|16-Aug-1999|… in the real file
    assert first["BENE_ID"] == -10000010254618
    assert first["STATE_CODE"] == "01" and first["COUNTY_CD"] == "1500" and first["ZIP_CD"] == "36109"
    assert first["BENE_BIRTH_DT"] == date(1999, 8, 16)
    assert first["BENE_DEATH_DT"] is None  # empty in every row of the release
    assert first["DUAL_STUS_CD_01"] is None  # the literal NA
    assert first["CST_SHR_GRP_CD_01"] == "02"
    assert first["BENE_HI_CVRAGE_TOT_MONS"] == 12 and first["year"] == 2019
    assert any(r["BENE_BIRTH_DT"] == date(1990, 8, 14) for r in got)  # the contract's `14-Aug-1990`
    assert len(rows(PUBLIC_2025, "beneficiary", 2025)) == 10


def test_rif_layout_maps_to_the_public_names_despite_bom_dml_ind_and_synonyms() -> None:
    header = read_header(RIF_2015)
    assert header[0] == "DML_IND"  # the BOM is gone from the first name
    names = normalize(header)
    assert names[0] is None and "COUNTY_CD" in names and "STATE_CNTY_FIPS_CD_09" in names
    assert "BENE_COUNTY_CD" not in names and "FIPS_STATE_CNTY_SEPT_CD" not in names
    got = {r["BENE_ID"]: r for r in rows(RIF_2015, "beneficiary", 2015)}
    bene = got[-1000006]  # INSERT|-1000006|22|22090|1730|17-Jan-1942|2|…
    assert bene["STATE_CODE"] == "22" and bene["COUNTY_CD"] == "22090" and bene["ZIP_CD"] == "1730"
    assert bene["BENE_BIRTH_DT"] == date(1942, 1, 17) and bene["SEX_IDENT_CD"] == "2"
    assert "DML_IND" not in bene and bene["BENE_ENROLLMT_REF_YR"] == 2015
    assert got[-1000018]["ZIP_CD"] is None
    public = set(rows(PUBLIC_2019, "beneficiary", 2019)[0])
    assert public <= set(rows(RIF_2021, "beneficiary", 2021)[0])  # every public column found in the RIF spelling


def test_claim_and_pde_rows_are_typed_and_land_per_year() -> None:
    lines = rows(REFERENCE / "synth_rif_carrier_head13.csv", "carrier")
    assert len(lines) == 12
    first = lines[0]  # INSERT|-1000006|-100000486|…|30-May-2015|30-May-2015|…|563.36|…
    assert first["CLM_ID"] == -100000486 and str(first["CLM_PMT_AMT"]) == "563.36"
    assert first["CLM_THRU_DT"] == date(2015, 5, 30) and first["year"] == 2015
    assert first["PRNCPAL_DGNS_CD"] == "O039"
    pde = rows(REFERENCE / "synth_rif_pde.csv", "pde")[0]
    assert pde["PROD_SRVC_ID"] == "50090443201" and pde["SRVC_PRVDR_ID_QLFYR_CD"] == "01"
    assert str(pde["TOT_RX_CST_AMT"]) == "35.74" and pde["SRVC_DT"] == date(2015, 3, 1)


def test_column_types_by_name() -> None:
    assert column_type("ZIP_CD") == "VARCHAR" and column_type("STATE_CODE") == "VARCHAR"
    assert (
        column_type("CLM_PMT_AMT") == "DECIMAL(14,2)"
        and column_type("NCH_BENE_PTA_COINSRNC_LBLTY_AM") == "DECIMAL(14,2)"
    )
    assert column_type("PRCDR_DT3") == "DATE" and column_type("COVSTART") == "DATE"
    assert column_type("BENE_ID") == "BIGINT" and column_type("BENE_HI_CVRAGE_TOT_MONS") == "INTEGER"


def test_classify_names() -> None:
    assert classify(Path("x/beneficiary_2019.csv")) == SourceFile(Path("x/beneficiary_2019.csv"), "beneficiary", 2019)
    assert classify(Path("snf.csv")).file_type == "snf"
    assert classify(Path("beneficiary_history.csv")) is None and classify(Path("README.txt")) is None


def test_land_writes_a_parquet_per_year_and_refuses_a_wrong_file_keeping_the_previous(tmp_path: Path) -> None:
    out = tmp_path / "landed" / "beneficiary"
    sources = [SourceFile(PUBLIC_2019, "beneficiary", 2019), SourceFile(RIF_2015, "beneficiary", 2015)]
    landed = land(sources, out)
    assert landed.rows_per_year == {2019: 20, 2015: 3}
    assert sorted(p.parent.name for p in out.glob("*/*.parquet")) == ["year=2015", "year=2019"]
    assert landed.columns["ZIP_CD"] == "VARCHAR" and landed.columns["BENE_BIRTH_DT"] == "DATE"
    wrong = tmp_path / "beneficiary_2020.csv"
    shutil.copy(REFERENCE / "synth_rif_pde.csv", wrong)
    with pytest.raises(LayoutError, match=r"beneficiary_2020\.csv: beneficiary file lacks column"):
        land([SourceFile(wrong, "beneficiary", 2020)], out)
    bad_date = tmp_path / "beneficiary_2021.csv"
    text = PUBLIC_2019.read_text().replace("16-Aug-1999", "1999-08-16", 1)
    bad_date.write_text(text)
    with pytest.raises(LayoutError, match=r"beneficiary_2021\.csv.*1999-08-16"):
        land([SourceFile(bad_date, "beneficiary", 2021)], out)
    html = tmp_path / "pde.csv"
    html.write_text("<html><body>Service unavailable</body></html>\n")
    with pytest.raises(LayoutError, match="no '\\|'"):
        land([SourceFile(html, "pde", None)], tmp_path / "landed" / "pde")
    assert sorted(p.parent.name for p in out.glob("*/*.parquet")) == ["year=2015", "year=2019"]  # kept
