"""Beyond one machine: Hugging Face publishing (group ``publish``) and object storage (group ``storage``).

- ``definitions()``: the opt-in ``publish`` job and its asset, always loaded (the main job leaves them out).
- ``with_object_store(defs)``: only when ``MEDICAID_OBJECT_STORE_URL`` is set, adds the ``storage`` assets and
  makes the source assets and the lookups wait for their restore from the bucket.
- ``resources(settings)``: the ``huggingface`` resource, and ``object_store`` when a bucket is configured.
"""

from __future__ import annotations

import dagster as dg

from medicaid_assets.defs.publish import huggingface, storage
from medicaid_assets.lib.object_store import parse_object_store_url
from medicaid_assets.resources.huggingface import HuggingFaceResource
from medicaid_assets.resources.object_store import ObjectStoreResource
from medicaid_assets.settings import HF_TOKEN_VAR, Settings

PUBLISH_ASSETS = dg.AssetSelection.groups(huggingface.GROUP)
# Storage assets a CLI command runs with its own groups (empty selections when no bucket is configured).
SOURCE_STORAGE = dg.AssetSelection.tag(storage.STAGE_TAG, "sources")
DATASET_STORAGE = dg.AssetSelection.tag(storage.STAGE_TAG, "datasets")


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[huggingface.huggingface_dataset], jobs=[huggingface.publish_job])


def with_object_store(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` plus the storage assets, with sources and lookups depending on their restore."""
    return dg.Definitions(
        assets=[*storage.with_restores_first(list(defs.assets or [])), *storage.STORAGE_ASSETS],
        asset_checks=defs.asset_checks,
        sensors=defs.sensors,
        schedules=defs.schedules,
        jobs=defs.jobs,
    )


def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    found: dict[str, dg.ConfigurableResource] = {
        "huggingface": HuggingFaceResource(
            endpoint=settings.hf_endpoint,
            repo_id=settings.hf_repo_id,
            # The value stays in the environment: run config and the UI show only the variable's name.
            token=dg.EnvVar(HF_TOKEN_VAR) if settings.hf_token else None,
        )
    }
    if settings.object_store_url:
        parse_object_store_url(settings.object_store_url)  # a malformed URL fails when the code location loads
        found["object_store"] = ObjectStoreResource(
            url=settings.object_store_url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    return found
