"""The Dagster side shared by the OPPS and ASC assets: list a CMS page's releases, download one release's zips,
read a CSV member back, turn a parsed addendum into a frame, the sensor that makes new releases partitions, and
:class:`ReleaseSource`, which declares one source's raw asset, rate tables and sensor alike."""

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.safe_zip import check_archive
from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.dagster_kit.sensors import new_partitions
from medicaid_assets.defs.reference.fee_schedules.keys import GROUP, RELEASE_COLUMN
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import decode
from medicaid_assets.defs.reference.fee_schedules.opps_asc_releases import release_links
from medicaid_assets.defs.reference.fee_schedules.opps_parse import Addendum

PAGE_TIMEOUT_SECONDS = 30.0  # sensors are cut off at 60 s
MAX_MEMBER_BYTES = 256 * 1024**2  # a real addendum CSV is under 10 MB; it is read into memory whole


def listed_releases(
    files: HttpFilesResource, page_url: str, kinds: Mapping[str, re.Pattern[str]], attempts: int | None = None
) -> dict[str, dict[str, str]]:
    """Release key → {kind: zip URL} as the CMS page lists them now (one GET)."""
    page = files.get_page_ok(page_url, "CMS addenda page", attempts=attempts, timeout=PAGE_TIMEOUT_SECONDS)
    return release_links(page.text, str(page.url), kinds)


def download_release(
    context: dg.AssetExecutionContext,
    files: HttpFilesResource,
    page_url: str,
    kinds: Mapping[str, re.Pattern[str]],
    folder: Path,
    max_bytes: int,
) -> dg.MaterializeResult:
    """Download (or keep, when current) the zips of the run's release into ``folder``; writes in place (raw files)."""
    release = context.partition_key
    links = listed_releases(files, page_url, kinds).get(release)
    if links is None:
        raise dg.Failure(f"release {release} is no longer listed on {page_url}; its partition keeps what it had")
    report = {}
    for kind, url in sorted(links.items()):
        dest = folder / release / f"{kind}-{file_name_from_url(url)}"
        result = files.download(url, dest, log=context.log, validate=lambda p: check_archive(p, max_bytes))
        members = [i.filename for i in check_archive(Path(result.path), max_bytes) if not i.is_dir()]
        report[kind] = {"url": url, "path": str(result.path), "sha256": result.sha256, "members": members,
                        "downloaded": not result.reused}  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(len(r["members"]) for r in report.values()),
            "path": dg.MetadataValue.path(str(folder / release)),
            "files": dg.MetadataValue.json(report),
        },
        data_version=dg.DataVersion("".join(r["sha256"] for r in report.values())),
    )


def read_csv_member(folder: Path, release: str, kind: str, max_bytes: int) -> tuple[str, bytes]:
    """(member name, bytes) of the one CSV in the release's ``kind`` zip (sizes checked before reading)."""
    zips = sorted((folder / release).glob(f"{kind}-*.zip"))
    if not zips:
        raise dg.Failure(f"no {kind} zip for release {release} under {folder}; materialize the raw asset first")
    infos = [i for i in check_archive(zips[0], max_bytes) if i.filename.lower().endswith(".csv")]
    if len(infos) != 1:
        raise dg.Failure(f"{zips[0].name}: expected one .csv member, found {[i.filename for i in infos]}")
    if infos[0].file_size > MAX_MEMBER_BYTES:
        raise dg.Failure(f"{zips[0].name}: {infos[0].filename} expands to {infos[0].file_size:,} bytes, over the "
                         f"{MAX_MEMBER_BYTES:,} an addendum can be; refusing it")  # fmt: skip
    with zipfile.ZipFile(zips[0]) as zf:
        return infos[0].filename, zf.read(infos[0])


def release_sensor(
    name: str,
    job_name: str,
    partitions: dg.DynamicPartitionsDefinition,
    page_url_field: str,
    kinds: Mapping[str, re.Pattern[str]],
) -> dg.SensorDefinition:
    """A sensor that GETs the CMS page once per tick and adds each newly listed release as a partition + one run."""

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=6 * 3600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Every 6 hours, one GET of the CMS page ({page_url_field}): each quarterly release not seen "
        f"before becomes a partition of {partitions.name} and one run of {job_name} (run_key = the release).",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, files: HttpFilesResource, sources: SourcesResource
    ) -> dg.SensorResult | dg.SkipReason:
        listed = listed_releases(files, getattr(sources, page_url_field), kinds, attempts=1)
        return new_partitions(context, partitions, listed, "release")

    return _sensor


POLARS_TYPES = {"text": "String", "code": "String", "apc": "String", "money": "Float64", "number": "Float64",
                "flag": "Boolean"}  # fmt: skip


def addendum_frame(addendum: Addendum, layout: Mapping[str, tuple[str, str]], release: str) -> pl.DataFrame:
    """The parsed rows as a frame with one type per column (from the layout), and the release key first."""
    schema = {RELEASE_COLUMN: pl.String}
    schema |= {column: getattr(pl, POLARS_TYPES[kind]) for column, kind in layout.values()}
    schema |= {column: pl.String for column in addendum.columns if column not in schema}
    return pl.DataFrame([{RELEASE_COLUMN: release, **row} for row in addendum.rows], schema=schema, orient="row")


def frame_metadata(frame: pl.DataFrame, addendum: Addendum, member: str) -> dict[str, object]:
    """What the asset page shows of a parsed addendum: a preview and what the file said about itself."""
    preview = frame.head(10)
    return {
        "preview": dg.MetadataValue.md(markdown_table(preview.columns[:8], preview.select(preview.columns[:8]).rows())),
        "source_member": member,
        "title": addendum.title,
        "header_month": addendum.month or "",
        "paid_rows": int(frame["payment_rate"].is_not_null().sum()),
    }


# (decoded CSV text, label naming release and member, release key) -> the parsed addendum; raises on a bad file.
AddendumParser = Callable[[str, str, str], Addendum]


@dataclass(frozen=True)
class ReleaseSource:
    """One quarterly CMS source (``opps``, ``asc``): its zips in ``raw/fee_schedules/<name>/<release>/``, listed
    on the page ``SourcesResource.<page_url_field>``, each file told apart by its pattern in ``kinds``."""

    name: str
    raw: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    page_url_field: str
    kinds: Mapping[str, re.Pattern[str]]

    @property
    def tags(self) -> dict[str, str]:
        return {"source": "cms", "fee_schedule": self.name}

    def raw_asset(self, description: str) -> dg.AssetsDefinition:
        """The release's zips as CMS posts them (written in place: raw downloads)."""

        @dg.asset(
            key=self.raw,
            partitions_def=self.partitions,
            group_name=GROUP,
            kinds={"zip", "http"},
            owners=OWNERS,
            tags=self.tags,
            description=description,
        )
        def _addenda(
            context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
        ) -> dg.MaterializeResult:
            folder = data.layout.fee_schedules / self.name
            page_url = getattr(sources, self.page_url_field)
            return download_release(context, files, page_url, self.kinds, folder, data.max_extract_bytes)

        return _addenda

    def rates_asset(
        self,
        key: dg.AssetKey,
        kind: str,
        layout: Mapping[str, tuple[str, str]],
        parse: AddendumParser,
        description: str,
    ) -> dg.AssetsDefinition:
        """The release's ``kind`` CSV parsed into one table (a file with no rows fails and keeps the last table)."""

        @dg.asset(
            key=key,
            deps=[self.raw],
            partitions_def=self.partitions,
            group_name=GROUP,
            kinds={"polars"},
            owners=OWNERS,
            tags=self.tags,
            metadata={PARTITION_EXPR: RELEASE_COLUMN},
            pool="duckdb",
            description=description,
        )
        def _rates(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
            release = context.partition_key
            folder = data.layout.fee_schedules / self.name
            member, raw = read_csv_member(folder, release, kind, data.max_extract_bytes)
            addendum = parse(decode(raw), f"{release} {member}", release)
            if not addendum.rows:
                raise dg.Failure(f"{release} {member}: no rows parsed; the previous table is kept")
            frame = addendum_frame(addendum, layout, release)
            context.add_output_metadata(frame_metadata(frame, addendum, member))
            return frame

        return _rates

    def sensor(self, job_name: str) -> dg.SensorDefinition:
        """``<name>_release_sensor``: each newly listed release becomes a partition and one run of ``job_name``."""
        return release_sensor(f"{self.name}_release_sensor", job_name, self.partitions, self.page_url_field, self.kinds)
