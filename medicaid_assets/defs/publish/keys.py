"""What other code may use of publishing: asset keys, groups and the storage stage tag."""

import dagster as dg

GROUP = "publish"  # Hugging Face, opt-in (its own job)
STORAGE_GROUP = "storage"  # object storage mirror and restore, only when a bucket is configured
STAGE_TAG = "storage_stage"  # "sources" or "datasets": which CLI command runs a storage asset with its group

HF_DATASET = dg.AssetKey(["publish", "huggingface_dataset"])
RESTORED_SOURCES = dg.AssetKey(["storage", "restored_sources"])
RESTORED_CACHES = dg.AssetKey(["storage", "restored_caches"])
MIRRORED_SOURCES = dg.AssetKey(["storage", "mirrored_sources"])
MIRRORED_OUTPUTS = dg.AssetKey(["storage", "mirrored_outputs"])

PUBLISH_ASSETS = dg.AssetSelection.groups(GROUP)
# Storage assets a CLI command runs with its own groups (empty selections when no bucket is configured).
SOURCE_STORAGE = dg.AssetSelection.tag(STAGE_TAG, "sources")
DATASET_STORAGE = dg.AssetSelection.tag(STAGE_TAG, "datasets")
