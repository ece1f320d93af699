"""Object storage as the system of record (``MEDICAID_OBJECT_STORE_URL=s3://bucket/prefix``), group ``storage``.

The pipeline keeps working on local files (DuckDB and the SQLite caches need them); these four assets keep the
bucket and the data directory in step, and exist only when a bucket is configured:

- ``storage/restored_sources`` runs before every source asset: raw files (spending file, NPPES and CMS zips, the
  fallback CSV) that the bucket has and this machine lacks are downloaded from the bucket, so a fresh machine does
  not fetch them from the public servers again (the download steps then find them and reuse them).
- ``storage/restored_caches`` runs before the lookups: missing NPI/HCPCS caches come back from the bucket, so a
  fresh machine does not ask the APIs again what was already settled.
- ``storage/mirrored_sources`` and ``storage/mirrored_outputs`` upload raw files, cache snapshots and outputs
  (mappings, datasets, unresolved report, triage) after they are built; unchanged files are skipped by sha256.

Uploads are atomic (staging key, then server-side copy; see lib/object_store). Extracted folders and the DuckDB
warehouse are not mirrored: both are rebuilt from the mirrored files.
"""

from datetime import timedelta
from pathlib import Path

import dagster as dg

from medicaid_assets.core.object_store import ObjectStore, Transfer, sqlite_snapshot
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.object_store import ObjectStoreResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.medicaid_spending import keys as spending_keys
from medicaid_assets.defs.publish.keys import (
    MIRRORED_OUTPUTS,
    MIRRORED_SOURCES,
    RESTORED_CACHES,
    RESTORED_SOURCES,
    STAGE_TAG,
    STORAGE_GROUP,
)
from medicaid_assets.defs.publish.mirrored_files import CACHES, OUTPUTS, SOURCES, local_files, matches
from medicaid_assets.defs.reference.code_sets import keys as code_sets_keys
from medicaid_assets.defs.reference.nppes import keys as nppes_keys
from medicaid_assets.defs.reference.resolution import keys as resolution_keys
from medicaid_assets.layout import DataLayout

CACHE_ASSETS = (resolution_keys.NPI_CACHE, resolution_keys.HCPCS_CACHE)
SOURCE_ASSETS = (
    spending_keys.SPENDING_FILE,
    nppes_keys.MONTHLY_BUNDLE,
    nppes_keys.WEEKLY_BUNDLE,
    code_sets_keys.ARCHIVES,
    code_sets_keys.FALLBACK,
    code_sets_keys.TAXONOMY,
)
OUTPUT_ASSETS = resolution_keys.OUTPUTS
# Uploads or restores a crashed process left in the staging area longer than this are removed.
STALE_STAGING = timedelta(hours=24)


def _asset(key: dg.AssetKey, stage: str, deps: tuple = (), description: str = "") -> dict:
    return dict(
        key=key,
        deps=list(deps),
        group_name=STORAGE_GROUP,
        kinds={"s3"},
        owners=OWNERS,
        tags={STAGE_TAG: stage},
        description=description,
    )


def _files_table(transfers: list[Transfer]) -> dg.MetadataValue:
    rows = [[t.relative, f"{t.size:,}", t.sha256[:16], "yes" if t.transferred else "unchanged"] for t in transfers]
    return dg.MetadataValue.md(markdown_table(["name", "bytes", "sha256", "transferred"], rows, limit=200))


def _summary(store: ObjectStore, transfers: list[Transfer], verb: str) -> dict[str, object]:
    moved = [t for t in transfers if t.transferred]
    return {
        "bucket": dg.MetadataValue.url(store.url),
        "files": len(transfers),
        verb: len(moved),
        f"bytes_{verb}": sum(t.size for t in moved),
        "objects": _files_table(transfers),
    }


def restore(store: ObjectStore, layout: DataLayout, kind: str, log: dg.DagsterLogManager) -> list[Transfer]:
    """Download the objects of ``kind`` this data directory lacks; never overwrite a local file."""
    present_before = {p.relative_to(layout.root).as_posix() for p in local_files(layout, kind)}
    restored = []
    for obj in store.list():
        rel = obj.relative
        if not matches(layout, kind, rel) or rel in present_before or (layout.root / rel).exists():
            continue
        # A download's .meta.json belongs to its file: bring it only with the file, or a local copy could be
        # judged against another copy's size and fetched again.
        if rel.endswith(".meta.json") and rel.removesuffix(".meta.json") in present_before:
            continue
        transfer = store.get_file(rel, layout.root / rel)
        log.info(f"restored {rel} ({transfer.size:,} bytes) from {transfer.url}")
        restored.append(transfer)
    return restored


def mirror(store: ObjectStore, layout: DataLayout, kind: str, log: dg.DagsterLogManager) -> list[Transfer]:
    """Upload the local files of ``kind`` whose bytes the bucket does not hold yet."""
    deleted, aborted = store.cleanup_staging(STALE_STAGING)
    if deleted or aborted:
        log.info(f"removed {deleted} stale staging object(s) and aborted {aborted} stale multipart upload(s)")
    transfers = []
    for path in local_files(layout, kind):
        rel = path.relative_to(layout.root).as_posix()
        if kind == CACHES:
            with sqlite_snapshot(path, layout.root / "tmp" / "snapshots") as snapshot:
                transfer = store.put_file(snapshot, rel)
        else:
            transfer = store.put_file(path, rel, progress=_progress(log, rel, path))
        if transfer.transferred:
            log.info(f"uploaded {rel} ({transfer.size:,} bytes, {transfer.parts} part(s)) to {transfer.url}")
        transfers.append(transfer)
    return transfers


def _progress(log: dg.DagsterLogManager, rel: str, path: Path):
    """Log big uploads every ~10%."""
    if path.stat().st_size < 256 * 1024**2:
        return None
    shown = [0]

    def report(sent: int, total: int) -> None:
        tenth = sent * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            log.info(f"uploading {rel}: {sent:,} of {total:,} bytes")

    return report


def _transfer_asset(
    key: dg.AssetKey, stage: str, kinds: tuple[str, ...], upload: bool, deps: tuple = (), description: str = ""
) -> dg.AssetsDefinition:
    """An asset that uploads (``upload``) or restores the data directory's files of ``kinds``."""
    verb = "uploaded" if upload else "restored"

    @dg.asset(**_asset(key, stage, deps, description))
    def transfer(
        context: dg.AssetExecutionContext, data: DataDirResource, object_store: ObjectStoreResource
    ) -> dg.MaterializeResult:
        store = object_store.store()
        move = mirror if upload else restore
        transfers = [t for kind in kinds for t in move(store, data.layout, kind, context.log)]
        return dg.MaterializeResult(metadata=_summary(store, transfers, verb))

    return transfer


def storage_assets() -> list[dg.AssetsDefinition]:
    """The four storage assets; built on request, since they exist only when a bucket is configured (a module-level
    asset under ``defs/`` would always be loaded)."""
    return [
        _transfer_asset(
            RESTORED_SOURCES,
            "sources",
            (SOURCES,),
            upload=False,
            description="Raw files (spending file, NPPES and CMS zips with their download records, the fallback CSV) "
            "that the bucket holds and this machine lacks, downloaded from the bucket before any source is fetched.",
        ),
        _transfer_asset(
            RESTORED_CACHES,
            "datasets",
            (CACHES,),
            upload=False,
            description="NPI and HCPCS lookup caches missing on this machine, restored from the bucket before the "
            "lookups run (a fresh machine then asks the APIs only what is still unsettled).",
        ),
        _transfer_asset(
            MIRRORED_SOURCES,
            "sources",
            (SOURCES,),
            upload=True,
            deps=SOURCE_ASSETS,
            description="Raw files uploaded to the bucket (atomically, multipart for large files; unchanged files "
            "skipped).",
        ),
        _transfer_asset(
            MIRRORED_OUTPUTS,
            "datasets",
            (CACHES, OUTPUTS),
            upload=True,
            deps=(*OUTPUT_ASSETS, *CACHE_ASSETS),
            description="Mappings, npi/hcpcs datasets, unresolved report, triage and consistent snapshots of the lookup "
            "caches, uploaded to the bucket (atomically; unchanged files skipped).",
        ),
    ]


def _with_upstream(assets_def: dg.AssetsDefinition, upstream: dg.AssetKey, keys: tuple) -> dg.AssetsDefinition:
    """``assets_def`` with ``upstream`` as a dependency of those of its assets in ``keys``, enforced in execution.

    ``map_asset_specs`` adds the dep to the specs and Nothing inputs to the op (one for ``upstream``, and copies
    of deps the op already takes as arguments), but Dagster 1.13.27 does not map them to asset keys: the graph
    shows the edge while a run does not wait for it. The public constructor, given the op's inputs mapped to
    ``upstream``, makes the run wait (the copies wait for it too; their own upstreams are already wired)."""
    mapped = assets_def.map_asset_specs(lambda s: s.merge_attributes(deps=[upstream]) if s.key in keys else s)
    known = dict(mapped.node_keys_by_input_name)
    unmapped = [i.name for i in mapped.op.input_defs if i.name not in known]
    if not unmapped:
        return mapped
    return dg.AssetsDefinition(
        node_def=mapped.node_def,
        keys_by_input_name={**known, **dict.fromkeys(unmapped, upstream)},
        keys_by_output_name=mapped.node_keys_by_output_name,
        check_specs_by_output_name=mapped.node_check_specs_by_output_name,
        specs=list(mapped.specs),
        can_subset=mapped.can_subset,
        backfill_policy=mapped.backfill_policy,
        resource_defs=mapped.resource_defs,
        hook_defs=mapped.hook_defs,
    )


def with_restores_first(assets: list) -> list:
    """Source assets wait for the restore of raw files, the lookups for the restore of their caches."""
    out = []
    for assets_def in assets:
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_executable:
            for upstream, keys in ((RESTORED_SOURCES, SOURCE_ASSETS), (RESTORED_CACHES, CACHE_ASSETS)):
                if set(assets_def.keys) & set(keys):
                    assets_def = _with_upstream(assets_def, upstream, keys)
        out.append(assets_def)
    return out


def with_object_store(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` plus the storage assets, with sources and lookups depending on their restore."""
    return dg.Definitions(
        assets=[*with_restores_first(list(defs.assets or [])), *storage_assets()],
        asset_checks=defs.asset_checks,
        sensors=defs.sensors,
        schedules=defs.schedules,
        jobs=defs.jobs,
        resources=defs.resources,
    )
