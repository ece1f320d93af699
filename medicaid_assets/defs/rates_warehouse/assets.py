"""Benchmark assets: Medicare OPPS and ASC (national; per-state rows unadjusted, see benchmarks.py) and one
workers'-comp benchmark per state. Values go through the IO manager (frames), so they are tables in DuckDB or
parquet files that any reader opens."""

import dagster as dg
import polars as pl

from medicaid_assets.dagster_kit.charts import amounts_by_group_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import PREVIEW_COLUMNS
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.defs.rates_warehouse import benchmarks, columns
from medicaid_assets.defs.rates_warehouse.keys import BENCH_MEDICARE_ASC, BENCH_MEDICARE_OPPS, BENCH_WC, GROUP
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules

TAGS = {"family": "rates_warehouse"}
# Unpartitioned benchmarks read every release stored so far and keep the newest; a release not loaded yet is skipped.
ALL_RELEASES = {"allow_missing_partitions": True}


def _chart(frame: pl.DataFrame, group: str, amount: str, title: str) -> dict[str, object]:
    national = frame.filter(pl.col("state") == benchmarks.NATIONAL) if "state" in frame.columns else frame
    values = {str(k): [v for v in vs if v is not None] for k, vs in national.group_by(group).agg(pl.col(amount)).rows()}
    return {"chart": image_metadata(amounts_by_group_png(values, title), title)}


def _medicare_bench(
    setting: str, key: dg.AssetKey, source: dg.AssetKey, addendum: str, indicator: str, job: str
) -> dg.AssetsDefinition:
    """``bench_medicare_<setting>`` (``opps`` or ``asc``): per state and ``US`` × code, the national payment rate of the
    newest stored release of ``addendum``, with the addendum's own columns."""
    name = setting.upper()
    carried = benchmarks.OPPS_CARRIED if setting == "opps" else benchmarks.ASC_CARRIED
    names = columns.OPPS if setting == "opps" else columns.ASC
    label = indicator.replace("_", " ")

    @dg.asset(
        key=key,
        ins={"addendum": dg.AssetIn(source, metadata=ALL_RELEASES)},
        group_name=GROUP,
        kinds={"polars"},
        owners=OWNERS,
        tags=TAGS,
        metadata={PREVIEW_COLUMNS: len(names) - 2, "dagster/column_schema": columns.schema(names)},
        pool="duckdb",
        description=f"Medicare {name} benchmark: per state (and `US`) × code, the newest release's national "
        f"{addendum} payment rate with {', '.join(c.replace('_', ' ') for c in carried)}. State rows repeat the "
        f"national amount (wage_adjusted = false; why: README, decision 0007). Its picture, `chart`: the national "
        f"payment rates by {label}.",
    )
    def bench(context: dg.AssetExecutionContext, addendum: pl.DataFrame) -> pl.DataFrame:
        frame = benchmarks.bench_medicare(addendum, setting, carried)
        if frame.is_empty():
            raise dg.Failure(f"no paid {name} code in any stored release; materialize a {job} partition first")
        title = f"{name} national payment rate by {label}"
        context.add_output_metadata(
            {"release": frame["release"][0], **_chart(frame, indicator, f"medicare_{setting}_national", title)}
        )
        return frame

    return bench


bench_medicare_opps = _medicare_bench(
    "opps", BENCH_MEDICARE_OPPS, fee_schedules.OPPS_HCPCS_RATES, "Addendum B", "status_indicator", "opps_release_job"
)
bench_medicare_asc = _medicare_bench(
    "asc", BENCH_MEDICARE_ASC, fee_schedules.ASC_RATES, "Addendum AA", "payment_indicator", "asc_release_job"
)


def _wc_bench(state: str) -> dg.AssetsDefinition:
    """``bench_wc_<state>``: from the state's own table (a partition of wc_maximums) or, for a state that sets its
    maximums as multiples of Medicare, from wc_multiplier_maximums."""
    if state in fee_schedules.wc_states.get_partition_keys():
        source = dg.AssetIn(fee_schedules.WC_MAXIMUMS, partition_mapping=dg.SpecificPartitionsPartitionMapping([state]))
        how = "the state's own maximum per code × modifier × setting, from its published schedule"
    else:
        source = dg.AssetIn(fee_schedules.WC_MULTIPLIER_MAXIMUMS)
        how = "the state's published multiples of the national Medicare OPPS amount"

    @dg.asset(
        key=BENCH_WC[state],
        ins={"maximums": source},
        group_name=GROUP,
        kinds={"polars"},
        owners=OWNERS,
        tags={**TAGS, "state": state},
        metadata={PREVIEW_COLUMNS: 7, "dagster/column_schema": columns.schema(columns.WC)},
        pool="duckdb",
        description=f"{state} workers'-comp benchmark: {how}.",
    )
    def bench(context: dg.AssetExecutionContext, maximums: pl.DataFrame) -> pl.DataFrame:
        frame = benchmarks.bench_wc(maximums, state)
        if frame.is_empty():
            raise dg.Failure(f"no {state} maximum with an amount; the previous benchmark is kept")
        context.add_output_metadata(_chart(frame, "setting", "wc_max", f"{state} workers'-comp maximums by setting"))
        return frame

    return bench


bench_wc_ca = _wc_bench("CA")
bench_wc_ga = _wc_bench("GA")
bench_wc_nc = _wc_bench("NC")
