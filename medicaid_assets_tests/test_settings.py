from pathlib import Path

from medicaid_assets.settings import DEFAULT_NPI_API_URL, ENV_VARS, PROJECT_ROOT, Settings


def test_defaults_are_the_real_endpoints_and_project_data_dir() -> None:
    s = Settings.from_env({})
    assert s.data_dir == PROJECT_ROOT / "data"
    assert s.warehouse_path == PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert s.npi_api_url == DEFAULT_NPI_API_URL == "https://npiregistry.cms.hhs.gov/api/"
    assert s.spending_url.startswith("https://stopendataprod.blob.core.windows.net/")
    assert s.nppes_files_page_url == "http://download.cms.gov/nppes/NPI_Files.html"
    assert s.hcpcs_api_url == "https://clinicaltables.nlm.nih.gov/api/hcpcs/v3/search"


def test_every_variable_is_read_and_round_trips(tmp_path: Path) -> None:
    env = {var: f"http://example.test/{var.lower()}" for var in ENV_VARS}
    env["MEDICAID_DATA_DIR"] = str(tmp_path / "d")
    env["MEDICAID_WAREHOUSE_PATH"] = str(tmp_path / "w.duckdb")
    env["MEDICAID_OVERLAYS_DIR"] = str(tmp_path / "o")
    env["MEDICAID_MAX_EXTRACT_BYTES"] = "12345"
    s = Settings.from_env(env)
    assert s.data_dir == tmp_path / "d" and s.warehouse_path == tmp_path / "w.duckdb"
    assert s.cpt_index_url == "http://example.test/medicaid_cpt_index_url"
    assert s.max_extract_bytes == 12345
    assert Settings.from_env(s.env()) == s


def test_warehouse_follows_data_dir_and_blank_values_mean_default(tmp_path: Path) -> None:
    s = Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path), "MEDICAID_SPENDING_URL": "  "})
    assert s.warehouse_path == tmp_path / "warehouse.duckdb"
    assert s.spending_url == Settings.from_env({}).spending_url


def test_no_other_module_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(PROJECT_ROOT))
        for p in (PROJECT_ROOT / "medicaid_assets").rglob("*.py")
        if p.name != "settings.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []


def test_readme_documents_every_variable() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert [var for var in ENV_VARS if f"`{var}`" not in readme] == []
