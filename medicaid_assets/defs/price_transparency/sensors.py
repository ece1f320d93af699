"""Poll the payers' tables of contents: record each month's ToC once, and read only file contents not seen before."""

import json

import dagster as dg

from medicaid_assets.defs.price_transparency.assets import listed_with_versions
from medicaid_assets.defs.price_transparency.jobs import files_job, toc_job
from medicaid_assets.defs.price_transparency.keys import (
    FILE_PARTITIONS,
    PAYER_PARTITIONS,
    TOC_PARTITIONS,
    toc_partition_key,
)
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource


@dg.sensor(
    jobs=[toc_job, files_job],
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "One payer's table of contents per tick (round robin over the catalog): a month's ToC seen for the first "
        "time becomes a `payer_toc` partition and a run; each file content not seen before (a new URL, or a file "
        "rewritten at its URL) becomes a file partition and a run. Files listed again unchanged are left alone."
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
    instance = context.instance
    requests: list[dg.DynamicPartitionsRequest] = []
    runs: list[dg.RunRequest] = []
    if missing := [p for p in payers if p not in set(instance.get_dynamic_partitions(PAYER_PARTITIONS))]:
        requests.append(dg.AddDynamicPartitionsRequest(PAYER_PARTITIONS, missing))
    _, month, listed = listed_with_versions(price_transparency, payer)
    toc_key = toc_partition_key(payer, month)
    if toc_key not in set(instance.get_dynamic_partitions(TOC_PARTITIONS)):
        requests.append(dg.AddDynamicPartitionsRequest(TOC_PARTITIONS, [toc_key]))
        runs.append(dg.RunRequest(run_key=f"toc:{toc_key}", job_name=toc_job.name, partition_key=toc_key))
    known = set(instance.get_dynamic_partitions(FILE_PARTITIONS))
    new = list(dict.fromkeys(f.file_key for f in listed if f.file_key not in known))
    if new:
        requests.append(dg.AddDynamicPartitionsRequest(FILE_PARTITIONS, new))
    runs += [dg.RunRequest(run_key=key, job_name=files_job.name, partition_key=key) for key in new]
    return dg.SensorResult(
        run_requests=runs, dynamic_partitions_requests=requests, cursor=json.dumps({"next": cursor["next"] + 1})
    )
