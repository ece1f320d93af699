"""A writer process for test_lake: the lake comes from the environment (``Settings.from_env``), as on a worker.

``python -m medicaid_assets_tests.dagster_kit.lake_writer sql|dagster <month> <rounds> <rows>`` connects, prints
``ready``, waits for a line on stdin (so that both writers start together), writes ``rounds`` times, then prints
one JSON line of what it did.
"""

import json
import sys
import time

import dagster as dg

from medicaid_assets.dagster_kit.lake import LakeWarehouseResource, lake_warehouse_from_settings
from medicaid_assets.settings import Settings

TABLE = "claims"
MONTHS = ("2024-01", "2024-02", "2024-03")
ROWS_SQL = "SELECT ?::VARCHAR AS month, i AS id, i * 0.5 AS amount, ?::INTEGER AS round FROM range(?) t(i)"
CONFLICTS: list[str] = []


def lake() -> LakeWarehouseResource:
    resource = lake_warehouse_from_settings(Settings.from_env())
    assert resource is not None, "MEDICAID_WAREHOUSE_CATALOG_URL is not set"
    return resource


def write(resource: LakeWarehouseResource, month: str, round_: int, rows: int) -> int:
    with resource.get_connection() as conn:
        return resource.replace_partition(
            conn, TABLE, "month", month, ROWS_SQL, [month, round_, rows], on_conflict=lambda e: CONFLICTS.append(str(e))
        )


class WriteConfig(dg.Config):
    round: int = 0
    rows: int = 100


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(list(MONTHS)))
def claims(context: dg.AssetExecutionContext, lake: LakeWarehouseResource, config: WriteConfig) -> dg.MaterializeResult:
    """One month of claims, replaced in the lake as one transaction."""
    inserted = write(lake, context.partition_key, config.round, config.rows)
    return dg.MaterializeResult(metadata={"rows": inserted, "conflicts_retried": len(CONFLICTS)})


def main(mode: str, month: str, rounds: int, rows: int) -> None:
    resource = lake()
    with resource.process_config_and_initialize().get_connection():  # attach once before the start signal
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    for round_ in range(rounds):
        if mode == "sql":
            write(resource.process_config_and_initialize(), month, round_, rows)
        else:
            result = dg.materialize(
                [claims],
                partition_key=month,
                resources={"lake": resource},
                run_config=dg.RunConfig({"claims": WriteConfig(round=round_, rows=rows)}),
            )
            assert result.success
            metadata = result.asset_materializations_for_node("claims")[0].metadata
            print(json.dumps({"metadata": {k: str(v.value) for k, v in metadata.items()}}), flush=True)
    print(json.dumps({"month": month, "started": started, "ended": time.time(), "conflicts": CONFLICTS}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
