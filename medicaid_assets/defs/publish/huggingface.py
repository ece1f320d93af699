"""Publishing to a Hugging Face dataset repo (opt-in, group ``publish``; not part of ``medicaid_pipeline``).

One commit uploads the spending parquet, the ``npi``/``hcpcs`` datasets, the two mapping CSVs and a dataset card
whose front matter declares the configs ``spending``, ``npi`` and ``hcpcs``. A commit is atomic on the Hub: the
repo shows all of it or none of it. Files the Hub already has with the same content are not sent again.

Run it with the ``publish`` job (UI or ``dg launch --job publish``) or ``medicaid-assets publish`` (the original's
``--hf-*`` flags). The token comes from ``HF_TOKEN`` (or ``--hf-token``) and is never logged or shown.
"""

import hashlib
import traceback
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.safe_zip import unpack_if_compressed
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.medicaid_spending.keys import SPENDING_FILE
from medicaid_assets.defs.publish.dataset_card import CardFile, dataset_card
from medicaid_assets.defs.publish.keys import GROUP, HF_DATASET
from medicaid_assets.defs.publish.resources import HuggingFaceResource
from medicaid_assets.defs.reference.resolution.keys import HCPCS_DATASET, HCPCS_MAPPING, NPI_DATASET, NPI_MAPPING

CARD_PATH = "README.md"


class PublishError(RuntimeError):
    """A publish that did not complete; the message never contains the token."""


class HfPublishConfig(dg.Config):
    """What to upload and where (the original's ``--hf-upload-*`` and ``--hf-*-path-in-repo``)."""

    repo_id: str | None = Field(default=None, description="owner/name; default MEDICAID_HF_REPO_ID")
    repo_type: str | None = Field(default=None, description="default the resource's (dataset)")
    private: bool | None = Field(default=None, description="create the repo private if it does not exist")
    upload_spending: bool = Field(default=True, description="the spending parquet (~3 GB); off to skip it")
    upload_npi: bool = Field(default=True, description="output/npi.parquet")
    upload_hcpcs: bool = Field(default=True, description="output/hcpcs.parquet")
    upload_npi_mapping: bool = Field(default=True, description="mappings/npi/npi_provider_mapping.csv")
    upload_hcpcs_mapping: bool = Field(default=True, description="mappings/hcpcs/hcpcs_code_mapping.csv")
    upload_card: bool = Field(default=True, description="README.md with the spending/npi/hcpcs configs")
    spending_path_in_repo: str = "spending/medicaid-provider-spending.parquet"
    npi_path_in_repo: str = "npi/npi.parquet"
    hcpcs_path_in_repo: str = "hcpcs/hcpcs.parquet"
    npi_mapping_path_in_repo: str = "mappings/npi_provider_mapping.csv"
    hcpcs_mapping_path_in_repo: str = "mappings/hcpcs_code_mapping.csv"
    commit_message: str = "Update Medicaid provider spending datasets"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as fh:
        return max(0, sum(1 for _ in fh) - 1)


def planned_files(
    config: HfPublishConfig, data: DataDirResource, sources: SourcesResource
) -> list[tuple[str | None, Path, str]]:
    """(config name or None, local file, path in repo) of every upload the config asks for."""
    layout = data.layout
    plan: list[tuple[str | None, Path, str]] = []
    if config.upload_spending:
        spending = unpack_if_compressed(layout.raw_medicaid / file_name_from_url(sources.spending_url))
        plan.append(("spending", spending, config.spending_path_in_repo))
    if config.upload_npi:
        plan.append(("npi", layout.npi_dataset, config.npi_path_in_repo))
    if config.upload_hcpcs:
        plan.append(("hcpcs", layout.hcpcs_dataset, config.hcpcs_path_in_repo))
    if config.upload_npi_mapping:
        plan.append((None, layout.npi_mapping, config.npi_mapping_path_in_repo))
    if config.upload_hcpcs_mapping:
        plan.append((None, layout.hcpcs_mapping, config.hcpcs_mapping_path_in_repo))
    return plan


def _repo_files(api, repo_id: str, repo_type: str) -> set[str] | None:
    """Files already in the repo (None when the Hub cannot say)."""
    try:
        info = api.repo_info(repo_id, repo_type=repo_type)
    except Exception:
        return None
    return {s.rfilename for s in (info.siblings or [])}


@dg.asset(
    key=HF_DATASET,
    deps=[SPENDING_FILE, NPI_DATASET, HCPCS_DATASET, NPI_MAPPING, HCPCS_MAPPING],
    group_name=GROUP,
    kinds={"huggingface", "parquet"},
    owners=OWNERS,
    description="The spending parquet, npi/hcpcs datasets and mapping CSVs in one commit to a Hugging Face dataset "
    "repo, with a dataset card declaring the configs spending, npi and hcpcs. Opt-in: the `publish` job.",
)
def huggingface_dataset(
    context: dg.AssetExecutionContext,
    config: HfPublishConfig,
    huggingface: HuggingFaceResource,
    data: DataDirResource,
    sources: SourcesResource,
) -> dg.MaterializeResult:
    from huggingface_hub import CommitOperationAdd

    repo_id = config.repo_id or huggingface.repo_id
    if not repo_id:
        raise dg.Failure("no Hugging Face repo to publish to: set MEDICAID_HF_REPO_ID or pass --hf-repo-id")
    plan = planned_files(config, data, sources)
    missing = [str(path) for _, path, _ in plan if not path.is_file()]
    if missing:
        raise dg.Failure(f"nothing was uploaded: missing {', '.join(missing)} (materialize the outputs first)")
    if not plan and not config.upload_card:
        raise dg.Failure("nothing to publish: every upload is switched off")
    files = [CardFile(repo_path, p.stat().st_size, _sha256(p), _rows(p), name) for name, p, repo_path in plan]
    repo_type = config.repo_type or huggingface.repo_type
    private = huggingface.private if config.private is None else config.private
    where = f"{huggingface.endpoint.rstrip('/')}/{repo_type}s/{repo_id}"
    api = huggingface.api()
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=repo_path, path_or_fileobj=str(p)) for _, p, repo_path in plan]
        configs = {name: repo_path for name, _, repo_path in plan if name}
        if config.upload_card:
            existing = _repo_files(api, repo_id, repo_type)
            for name, repo_path in (
                ("spending", config.spending_path_in_repo),
                ("npi", config.npi_path_in_repo),
                ("hcpcs", config.hcpcs_path_in_repo),
            ):
                # A config whose file is not uploaded now stays declared if an earlier commit put it there.
                if name not in configs and existing is not None and repo_path in existing:
                    configs[name] = repo_path
            card = dataset_card(repo_id, files, configs, datetime.now(UTC).isoformat(timespec="seconds"))
            operations.append(CommitOperationAdd(path_in_repo=CARD_PATH, path_or_fileobj=card.encode("utf-8")))
        context.log.info(f"committing {len(operations)} file(s) to {where}")
        commit = api.create_commit(repo_id, operations, commit_message=config.commit_message, repo_type=repo_type)
    except Exception as exc:
        text = huggingface.scrub(f"{type(exc).__name__}: {exc}")
        if huggingface.token and huggingface.token in "".join(traceback.format_exception(exc)):
            raise PublishError(f"{where}: publish failed: {text}") from None  # the cause quotes the token
        raise PublishError(f"{where}: publish failed: {text}") from exc
    table = [[f.path_in_repo, f.config or "", f"{f.rows:,}", f"{f.size:,}", f.sha256[:16]] for f in files]
    context.log.info(f"published {len(files)} file(s){' and the card' if config.upload_card else ''} to {where}")
    return dg.MaterializeResult(
        metadata={
            "repo": dg.MetadataValue.url(where),
            "commit": dg.MetadataValue.url(commit.commit_url),
            "commit_oid": commit.oid,
            "configs": sorted(configs) if config.upload_card else [],
            "files": dg.MetadataValue.md(markdown_table(["path in repo", "config", "rows", "bytes", "sha256"], table)),
            "bytes": sum(f.size for f in files),
            "card": config.upload_card,
            "skipped_spending": not config.upload_spending,
        }
    )


publish_job = dg.define_asset_job(
    "publish",
    selection=dg.AssetSelection.groups(GROUP),
    description="Opt-in: upload the spending file, npi/hcpcs datasets, mappings and dataset card to Hugging Face.",
)
