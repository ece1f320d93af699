"""Poll the payers' tables of contents and read only the in-network files not seen before."""

import json

import dagster as dg

from medicaid_assets.defs.price_transparency.assets import listed_files
from medicaid_assets.defs.price_transparency.jobs import files_job
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, PAYER_PARTITIONS
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource


@dg.sensor(
    job=files_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "One payer's table of contents per tick (round robin over the catalog): new in-network files become "
        "partitions and a run each; files already known are left alone."
    ),
)
def price_transparency_toc_sensor(
    context: dg.SensorEvaluationContext, price_transparency: PriceTransparencyResource
) -> dg.SensorResult | dg.SkipReason:
    payers = sorted(price_transparency.payers())
    if not payers:
        return dg.SkipReason("the payer catalog is empty")
    cursor = json.loads(context.cursor) if context.cursor else {"next": 0}
    payer = payers[cursor["next"] % len(payers)]
    requests: list[dg.DynamicPartitionsRequest] = []
    known_payers = set(context.instance.get_dynamic_partitions(PAYER_PARTITIONS))
    if missing := [p for p in payers if p not in known_payers]:
        requests.append(dg.AddDynamicPartitionsRequest(PAYER_PARTITIONS, missing))
    _, listed = listed_files(price_transparency, payer)
    known = set(context.instance.get_dynamic_partitions(FILE_PARTITIONS))
    new = [f.file_key for f in listed if f.file_key not in known]
    if new:
        requests.append(dg.AddDynamicPartitionsRequest(FILE_PARTITIONS, new))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=key) for key in new],
        dynamic_partitions_requests=requests,
        cursor=json.dumps({"next": cursor["next"] + 1}),
    )
