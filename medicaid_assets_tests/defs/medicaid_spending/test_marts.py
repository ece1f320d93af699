"""The analysis marts on the sample world: spending rows enriched, checked per month, patched by a weekly NPPES file."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.definitions import build_definitions, build_resources
from medicaid_assets.defs.medicaid_spending.keys import (
    CODE_TOTALS,
    FEE_INDEX,
    MARTS_SCHEMA,
    PROVIDER_TOTALS,
    SCREENING,
    SPENDING,
    SPENDING_ENRICHED,
    SPENDING_ENRICHED_TABLE,
    SPENDING_ENRICHED_WEEKLY,
    SPENDING_FILE,
    STATE_MONTH_KIND,
)
from medicaid_assets.defs.reference.code_sets.keys import TAXONOMY
from medicaid_assets.defs.reference.fee_schedules.keys import (
    PFS_AMOUNTS,
    PFS_LOCALITIES,
    PFS_RELEASE,
    PFS_RVUS,
    PFS_STATE_AMOUNTS,
    pfs_release_partitions,
)
from medicaid_assets.defs.reference.nppes.bundles import bundle_key
from medicaid_assets.defs.reference.nppes.keys import (
    MONTHLY_BUNDLE,
    PROVIDERS,
    WEEKLY_BUNDLE,
    WEEKLY_UPDATE,
    nppes_weekly_partitions,
)
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.providers import weekly_bundles
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.sample_world.spending import planted_outlier
from medicaid_assets.sample_world.world import world_spec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

PROVIDER_COLUMNS = ("provider_name", "entity_type", "npi_status", "taxonomy_code", "state", "zip5")


def _materialize(settings: Settings, instance: dg.DagsterInstance, keys: list[dg.AssetKey], **kwargs):
    defs = build_definitions(settings)
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    return dg.materialize(
        list(defs.assets or []), selection=keys, resources=resources, instance=instance, raise_on_error=False, **kwargs
    )


def _stored(settings: Settings, key: dg.AssetKey) -> str:
    return str(DataLayout(settings.data_dir).assets / MARTS_SCHEMA / f"{key.path[-1]}.parquet")


def _query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_enriched_matches_the_source_per_month_and_a_weekly_moves_only_its_npis(
    settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    with dg.instance_for_test() as instance:
        sources = _materialize(settings, instance, [SPENDING_FILE, SPENDING], tags=full_range_tags())
        assert sources.success
        assert _materialize(settings, instance, [MONTHLY_BUNDLE, PROVIDERS, TAXONOMY]).success
        result = _materialize(settings, instance, [SPENDING_ENRICHED], tags=full_range_tags())
        assert result.success
        assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
            "matches_spending_per_month": True
        }
        per_month = _query(
            settings,
            f"SELECT claim_month, count(*), round(sum(paid), 2) FROM {SPENDING_ENRICHED_TABLE} GROUP BY 1 ORDER BY 1",
        )
        source = _query(
            settings,
            "SELECT CLAIM_FROM_MONTH, count(*), round(sum(TOTAL_PAID), 2) FROM spending GROUP BY 1 ORDER BY 1",
        )
        assert per_month == source and len(per_month) == 84
        statuses = dict(
            _query(settings, f"SELECT billing_npi_status, count(*) FROM {SPENDING_ENRICHED_TABLE} GROUP BY 1")
        )
        assert {"active", "invalid", "unknown"} <= set(statuses)
        (named,) = _query(
            settings,
            f"SELECT count(*) FILTER (WHERE billing_taxonomy_classification IS NOT NULL), "
            f"count(*) FILTER (WHERE billing_npi_status = 'active') FROM {SPENDING_ENRICHED_TABLE}",
        )
        assert 0 < named[0] == named[1]  # every active provider's taxonomy is in the NUCC code set
        kinds = {k for (k,) in _query(settings, f"SELECT DISTINCT code_kind FROM {SPENDING_ENRICHED_TABLE}")}
        assert {"CPT", "Level II", "junk"} <= kinds

        # Rollups, fee index (against a PFS release of the world) and screening.
        instance.add_dynamic_partitions(pfs_release_partitions.name, ["2026Q4"])
        pfs = [PFS_RELEASE, PFS_RVUS, PFS_LOCALITIES, PFS_AMOUNTS, PFS_STATE_AMOUNTS]
        assert _materialize(settings, instance, pfs, partition_key="2026Q4").success
        rollups = _materialize(
            settings, instance, [STATE_MONTH_KIND, PROVIDER_TOTALS, CODE_TOTALS, FEE_INDEX, SCREENING]
        )
        assert rollups.success
        stored = {k: _stored(settings, k) for k in (PROVIDER_TOTALS, CODE_TOTALS, FEE_INDEX, SCREENING)}
        (total,) = _query(settings, f"SELECT round(sum(paid), 2) FROM {SPENDING_ENRICHED_TABLE}")
        assert duckdb.sql(f"SELECT round(sum(paid), 2) FROM '{stored[PROVIDER_TOTALS]}'").fetchone() == total
        national, states = duckdb.sql(
            f"SELECT round(sum(paid) FILTER (WHERE state = 'US'), 2), round(sum(paid) FILTER (WHERE state <> 'US'), 2) "
            f"FROM '{stored[CODE_TOTALS]}'"
        ).fetchone()
        assert national == states == total[0]
        (indexed,) = duckdb.sql(f"SELECT count(*) FROM '{stored[FEE_INDEX]}' WHERE index_non_facility > 0").fetchone()
        assert indexed > 0
        _, outlier = planted_outlier(world_spec(world_dir))
        screened = {
            r[0]: r
            for r in duckdb.sql(
                f"SELECT billing_npi, rank, peer_group, reasons, z_paid_per_claim FROM '{stored[SCREENING]}'"
            ).fetchall()
        }
        _, rank, group, reasons, _ = screened[outlier]
        assert rank == 1 and any(r.startswith("paid_per_claim high") for r in reasons)
        peers = [r for npi, r in screened.items() if r[2] == group and npi != outlier]
        assert len(peers) >= 4 and all(abs(r[4] or 0) < 3.5 for r in peers)

        # A new (re-loaded) month rebuilds its partition only: a marked row of another month survives it.
        with duckdb.connect(str(settings.warehouse_path)) as conn:
            conn.execute(
                f"UPDATE {SPENDING_ENRICHED_TABLE} SET billing_provider_name = 'MARKED' WHERE rowid = "
                f"(SELECT min(rowid) FROM {SPENDING_ENRICHED_TABLE} WHERE claim_month = DATE '2019-07-01')"
            )
        assert _materialize(settings, instance, [SPENDING_ENRICHED], partition_key="2024-12-01").success
        marked = f"SELECT count(*) FROM {SPENDING_ENRICHED_TABLE} WHERE billing_provider_name = 'MARKED'"
        assert _query(settings, marked) == [(1,)]
        assert _materialize(settings, instance, [SPENDING_ENRICHED], partition_key="2019-07-01").success
        assert _query(settings, marked) == [(0,)]

        # A weekly bundle: its NPIs' rows take the new NPPES values, every other row stays as it was.
        key = bundle_key(weekly_bundles(world_spec(world_dir))[0].zip_name)
        columns = ", ".join(f"{role}_{c}" for role in ("billing", "servicing") for c in PROVIDER_COLUMNS)
        before = _query(settings, f"SELECT rowid, billing_npi, servicing_npi, {columns} FROM {SPENDING_ENRICHED_TABLE}")
        instance.add_dynamic_partitions(nppes_weekly_partitions.name, [key])
        weekly = _materialize(
            settings, instance, [WEEKLY_BUNDLE, WEEKLY_UPDATE, SPENDING_ENRICHED_WEEKLY], partition_key=key
        )
        assert weekly.success
        touched = {
            npi
            for (npi,) in _query(
                settings,
                "SELECT npi FROM nppes_providers WHERE source_file IN "
                f"(SELECT source_file FROM nppes_applied_bundles WHERE bundle_key = '{key}')",
            )
        }
        names = dict(_query(settings, "SELECT npi, provider_name FROM nppes_providers"))
        after = {
            r[0]: r
            for r in _query(
                settings, f"SELECT rowid, billing_npi, servicing_npi, {columns} FROM {SPENDING_ENRICHED_TABLE}"
            )
        }
        changed = 0
        for row in before:
            now = after[row[0]]
            if (row[1] or "").strip() in touched or (row[2] or "").strip() in touched:
                if (row[1] or "").strip() in touched:
                    assert now[3] == names[row[1].strip()]
                changed += now != row
            else:
                assert now == row
        assert changed > 0  # the world's weekly renames or deactivates providers the spending file bills
