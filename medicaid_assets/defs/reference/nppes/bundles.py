"""NPPES bulk files: the files page, what a bundle holds, the known headers, and the provider-table SQL.

Pure code (no Dagster, no network). Facts it relies on (contract §3, original-pipeline notes §3c): the
files page lists ``NPPES_Data_Dissemination_*_V2.zip`` links newest first; weekly names carry
``_<MMDDYY>_<MMDDYY>_Weekly``; the primary CSV is ``npidata_pfile_<yyyymmdd>-<yyyymmdd>.csv`` (its
header in a sibling ``*_fileheader.csv``); side files start with ``othername_pfile_``, ``pl_pfile_``,
``endpoint_pfile_``; every value is double-quoted, dates are ``MM/DD/YYYY``, bytes are Latin-1.

A weekly bundle's partition key is its zip stem (``NPPES_Data_Dissemination_110926_111526_Weekly_V2``):
it is the name of its folder under ``raw/nppes/weekly/`` and maps back to its URL exactly
(``<files page folder>/<key>.zip``), whatever CMS's spelling; :func:`weekly_period` gives its dates
for ordering.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.values import sql_string

ENCODING = "latin-1"
_FORMATS = resources.files("medicaid_assets.formats")
V2_HEADER: tuple[str, ...] = tuple(
    next(csv.reader([_FORMATS.joinpath("nppes_bulk_header_v2.csv").read_text(ENCODING)]))
)
V2_HEADER_SOURCE = "medicaid_assets/formats/nppes_bulk_header_v2.csv"
ORG_NAME = "Provider Organization Name (Legal Business Name)"
FIRST_NAME = "Provider First Name"
LAST_NAME = "Provider Last Name (Legal Name)"
TAXONOMY_SLOTS = 15
IDENTIFIER_SLOTS = 50

_WEEKLY_PERIOD = re.compile(r"_(\d{6})_(\d{6})_weekly", re.IGNORECASE)
_FILE_PERIOD = re.compile(r"(\d{8})-(\d{8})")


class NppesBundleError(ValueError):
    """An extracted bundle we cannot use (no primary CSV, unexpected headers); the message says why."""


# -- the files page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NppesLinks:
    """V2 bundle URLs on the files page, absolute, newest first as the page lists them."""

    monthly: tuple[str, ...]
    weekly: tuple[str, ...]


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value.strip() for name, value in attrs if name == "href" and value]


def parse_files_page(html: str, page_url: str) -> NppesLinks:
    """The V2 monthly and weekly zip links of the NPPES files page (V1 files and deactivation reports skipped)."""
    parser = _Hrefs()
    parser.feed(html)
    monthly: list[str] = []
    weekly: list[str] = []
    for href in parser.hrefs:
        url = urljoin(page_url, href)
        try:
            name = file_name_from_url(url).lower()
        except ValueError:  # a link to a folder
            continue
        if "nppes_data_dissemination" not in name or not name.endswith("_v2.zip") or "deactivated" in name:
            continue
        links = weekly if "weekly" in name else monthly
        if url not in links:
            links.append(url)
    return NppesLinks(tuple(monthly), tuple(weekly))


def bundle_key(url_or_name: str) -> str:
    """A bundle's zip stem: its folder name and, for weeklies, its partition key."""
    name = file_name_from_url(url_or_name)
    if not name.lower().endswith(".zip"):
        raise ValueError(f"not a zip URL or name: {url_or_name!r}")
    return name[:-4]


def weekly_url(page_url: str, key: str) -> str:
    """The URL of weekly bundle ``key``: beside the files page, as CMS publishes them."""
    return urljoin(page_url, f"{key}.zip")


def weekly_period(key: str) -> tuple[date, date] | None:
    """First and last day of a weekly bundle from its name (``…_110926_111526_Weekly_V2``), or None."""
    m = _WEEKLY_PERIOD.search(key)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%m%d%y").date(), datetime.strptime(m.group(2), "%m%d%y").date()
    except ValueError:
        return None


def chronological(keys: Sequence[str]) -> list[str]:
    """Weekly keys oldest first; keys without a readable period go last, by name."""
    return sorted(keys, key=lambda k: (weekly_period(k) is None, weekly_period(k) or (), k))


def source_date(csv_name: str) -> date:
    """The cut date of an ``npidata_pfile_<start>-<end>.csv`` (its end date): how new its records are."""
    m = _FILE_PERIOD.search(csv_name)
    if m:
        try:
            return datetime.strptime(m.group(2), "%Y%m%d").date()
        except ValueError:
            pass
    raise NppesBundleError(f"{csv_name}: no <yyyymmdd>-<yyyymmdd> period in the file name; cannot date its records")


# -- headers -----------------------------------------------------------------------------------------


def read_header(path: Path) -> list[str]:
    """Column names on the first line of an NPPES CSV."""
    with path.open(encoding=ENCODING, newline="") as fh:
        return next(csv.reader(fh), [])


def _listing(items: Sequence[str], limit: int = 10) -> str:
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


@dataclass(frozen=True)
class HeaderDifference:
    """How a header differs from the expected one; positions are 1-based."""

    renamed: tuple[tuple[int, str, str], ...] = ()  # (position, expected, found)
    missing: tuple[tuple[int, str], ...] = ()  # (expected position, name)
    extra: tuple[tuple[int, str], ...] = ()  # (found position, name)
    moved: tuple[tuple[str, int, int], ...] = ()  # (name, expected position, found position)

    def __bool__(self) -> bool:
        return bool(self.renamed or self.missing or self.extra or self.moved)

    def __str__(self) -> str:
        parts = []
        if self.renamed:
            parts.append("renamed: " + _listing([f"column {i} {e!r} is now {f!r}" for i, e, f in self.renamed]))
        if self.missing:
            parts.append("missing: " + _listing([f"{n!r} (column {i})" for i, n in self.missing]))
        if self.extra:
            parts.append("extra: " + _listing([f"{n!r} (column {i})" for i, n in self.extra]))
        if self.moved:
            parts.append("moved: " + _listing([f"{n!r} from column {e} to {f}" for n, e, f in self.moved]))
        return " | ".join(parts) or "no difference"


def header_difference(expected: Sequence[str], found: Sequence[str]) -> HeaderDifference:
    """Renamed, missing, extra and reordered columns of ``found`` against ``expected`` (empty when equal)."""
    if list(expected) == list(found):
        return HeaderDifference()
    expected_at = {name: i for i, name in enumerate(expected, 1)}
    found_at: dict[str, int] = {}
    extra = []
    for i, name in enumerate(found, 1):
        if name in found_at or name not in expected_at:  # a repeated name counts as extra
            extra.append((i, name))
        else:
            found_at[name] = i
    missing = [(i, name) for name, i in expected_at.items() if name not in found_at]
    # A missing and an extra name at the same position is one rename (e.g. V1's "Provider Gender Code").
    extra_at = dict(extra)
    renamed = [(i, name, extra_at[i]) for i, name in missing if i in extra_at]
    renamed_at = {i for i, _, _ in renamed}
    common_expected = [n for n in expected if n in found_at]
    common_found = sorted(found_at, key=found_at.get)  # type: ignore[arg-type]
    moved = [(e, expected_at[e], found_at[e]) for e, f in zip(common_expected, common_found, strict=True) if e != f]
    return HeaderDifference(
        renamed=tuple(renamed),
        missing=tuple((i, n) for i, n in missing if i not in renamed_at),
        extra=tuple((i, n) for i, n in extra if i not in renamed_at),
        moved=tuple(moved),
    )


# -- what an extracted bundle holds ------------------------------------------------------------------


@dataclass(frozen=True)
class SideTable:
    """One NPPES side file and the warehouse table its rows go to."""

    kind: str  # file name prefix before ``_pfile_``
    table: str
    columns: tuple[tuple[str, str], ...]  # (table column, CSV header name), CSV order

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.columns)


SIDE_TABLES: tuple[SideTable, ...] = (
    SideTable(
        "othername",
        "nppes_other_names",
        (
            ("npi", "NPI"),
            ("other_organization_name", "Provider Other Organization Name"),
            ("other_organization_name_type", "Provider Other Organization Name Type Code"),
        ),
    ),
    SideTable(
        "pl",
        "nppes_practice_locations",
        (
            ("npi", "NPI"),
            ("address_line1", "Provider Secondary Practice Location Address- Address Line 1"),
            ("address_line2", "Provider Secondary Practice Location Address-  Address Line 2"),
            ("city", "Provider Secondary Practice Location Address - City Name"),
            ("state", "Provider Secondary Practice Location Address - State Name"),
            ("postal_code", "Provider Secondary Practice Location Address - Postal Code"),
            ("country", "Provider Secondary Practice Location Address - Country Code (If outside U.S.)"),
            ("phone", "Provider Secondary Practice Location Address - Telephone Number"),
            ("phone_extension", "Provider Secondary Practice Location Address - Telephone Extension"),
            ("fax", "Provider Practice Location Address - Fax Number"),
        ),
    ),
    SideTable(
        "endpoint",
        "nppes_endpoints",
        (
            ("npi", "NPI"),
            ("endpoint_type", "Endpoint Type"),
            ("endpoint_type_description", "Endpoint Type Description"),
            ("endpoint", "Endpoint"),
            ("affiliation", "Affiliation"),
            ("endpoint_description", "Endpoint Description"),
            ("affiliation_legal_business_name", "Affiliation Legal Business Name"),
            ("use_code", "Use Code"),
            ("use_description", "Use Description"),
            ("other_use_description", "Other Use Description"),
            ("content_type", "Content Type"),
            ("content_description", "Content Description"),
            ("other_content_description", "Other Content Description"),
            ("affiliation_address_line1", "Affiliation Address Line One"),
            ("affiliation_address_line2", "Affiliation Address Line Two"),
            ("affiliation_address_city", "Affiliation Address City"),
            ("affiliation_address_state", "Affiliation Address State"),
            ("affiliation_address_country", "Affiliation Address Country"),
            ("affiliation_address_postal_code", "Affiliation Address Postal Code"),
        ),
    ),
)


def is_primary_header(header: Sequence[str]) -> bool:
    """The contract's test for the npidata file: NPI, entity type, and an organization or person name."""
    names = set(header)
    return {"NPI", "Entity Type Code"} <= names and (ORG_NAME in names or {FIRST_NAME, LAST_NAME} <= names)


@dataclass(frozen=True)
class BundleFiles:
    """The CSVs of one extracted bundle: the primary npidata file and the side files present."""

    folder: Path
    primary: Path
    sides: dict[str, Path] = field(default_factory=dict)  # SideTable.kind -> file

    @property
    def source_date(self) -> date:
        return source_date(self.primary.name)


def find_bundle_files(folder: Path) -> BundleFiles:
    """Classify the CSVs under ``folder`` (``*_fileheader.csv`` skipped); the largest primary candidate wins."""
    csvs = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".csv" and not _is_fileheader(p.name)
    )
    primaries = [p for p in csvs if is_primary_header(read_header(p))]
    if not primaries:
        names = ", ".join(str(p.relative_to(folder)) for p in csvs) or "none"
        raise NppesBundleError(
            f"{folder}: no npidata CSV (a header with NPI, Entity Type Code and an organization or first and last "
            f"name); CSV files found: {names}"
        )
    primary = max(primaries, key=lambda p: (p.stat().st_size, p.name))
    sides = {}
    for side in SIDE_TABLES:
        matches = [p for p in csvs if p.name.lower().startswith(f"{side.kind}_pfile_")]
        if matches:
            sides[side.kind] = max(matches, key=lambda p: (p.stat().st_size, p.name))
    return BundleFiles(folder=folder, primary=primary, sides=sides)


def count_data_lines(path: Path) -> int:
    """Lines after the header, counted from the bytes (NPPES values hold no newline): a check on the parser."""
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def _is_fileheader(name: str) -> bool:
    return name.lower().endswith("_fileheader.csv")


def header_differences(bundle: BundleFiles) -> dict[str, HeaderDifference]:
    """File name -> difference from its known V2 header, for every file of ``bundle`` that differs."""
    expected = {bundle.primary: V2_HEADER} | {
        bundle.sides[s.kind]: s.header for s in SIDE_TABLES if s.kind in bundle.sides
    }
    out = {}
    for path, header in expected.items():
        diff = header_difference(header, read_header(path))
        if diff:
            out[path.name] = diff
    return out


def describe_differences(differences: dict[str, HeaderDifference]) -> str:
    return "; ".join(f"{name}: {diff}" for name, diff in differences.items())


# -- provider-table SQL --------------------------------------------------------------------------------

TEXT = "VARCHAR"
DATE = "DATE"


def _main_address(prefix: str, kind: str) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (f"{prefix}_{column}", header, TEXT)
        for column, header in (
            ("address_line1", f"Provider First Line Business {kind} Address"),
            ("address_line2", f"Provider Second Line Business {kind} Address"),
            ("city", f"Provider Business {kind} Address City Name"),
            ("state", f"Provider Business {kind} Address State Name"),
            ("postal_code", f"Provider Business {kind} Address Postal Code"),
            ("country", f"Provider Business {kind} Address Country Code (If outside U.S.)"),
            ("phone", f"Provider Business {kind} Address Telephone Number"),
            ("fax", f"Provider Business {kind} Address Fax Number"),
        )
    )


# (table column, CSV header name, type): every scalar column of the V2 file except NPI, in a reading order.
PROVIDER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("entity_type", "Entity Type Code", TEXT),
    ("replacement_npi", "Replacement NPI", TEXT),
    ("ein", "Employer Identification Number (EIN)", TEXT),
    ("organization_name", ORG_NAME, TEXT),
    ("last_name", LAST_NAME, TEXT),
    ("first_name", FIRST_NAME, TEXT),
    ("middle_name", "Provider Middle Name", TEXT),
    ("name_prefix", "Provider Name Prefix Text", TEXT),
    ("name_suffix", "Provider Name Suffix Text", TEXT),
    ("credential", "Provider Credential Text", TEXT),
    ("other_organization_name", "Provider Other Organization Name", TEXT),
    ("other_organization_name_type", "Provider Other Organization Name Type Code", TEXT),
    ("other_last_name", "Provider Other Last Name", TEXT),
    ("other_first_name", "Provider Other First Name", TEXT),
    ("other_middle_name", "Provider Other Middle Name", TEXT),
    ("other_name_prefix", "Provider Other Name Prefix Text", TEXT),
    ("other_name_suffix", "Provider Other Name Suffix Text", TEXT),
    ("other_credential", "Provider Other Credential Text", TEXT),
    ("other_last_name_type", "Provider Other Last Name Type Code", TEXT),
    *_main_address("mailing", "Mailing"),
    *_main_address("location", "Practice Location"),
    ("enumeration_date", "Provider Enumeration Date", DATE),
    ("last_update_date", "Last Update Date", DATE),
    ("deactivation_reason", "NPI Deactivation Reason Code", TEXT),
    ("deactivation_date", "NPI Deactivation Date", DATE),
    ("reactivation_date", "NPI Reactivation Date", DATE),
    ("certification_date", "Certification Date", DATE),
    ("sex", "Provider Sex Code", TEXT),
    ("sole_proprietor", "Is Sole Proprietor", TEXT),
    ("organization_subpart", "Is Organization Subpart", TEXT),
    ("parent_organization_lbn", "Parent Organization LBN", TEXT),
    ("parent_organization_tin", "Parent Organization TIN", TEXT),
    ("official_last_name", "Authorized Official Last Name", TEXT),
    ("official_first_name", "Authorized Official First Name", TEXT),
    ("official_middle_name", "Authorized Official Middle Name", TEXT),
    ("official_title", "Authorized Official Title or Position", TEXT),
    ("official_phone", "Authorized Official Telephone Number", TEXT),
    ("official_name_prefix", "Authorized Official Name Prefix Text", TEXT),
    ("official_name_suffix", "Authorized Official Name Suffix Text", TEXT),
    ("official_credential", "Authorized Official Credential Text", TEXT),
)
FLAG = "BOOLEAN"  # Y -> true, anything else -> false
# Numbered slots, read into a list of structs (empty slots dropped): (struct field, CSV header, type).
TAXONOMY_FIELDS = (
    ("code", "Healthcare Provider Taxonomy Code_{i}", TEXT),
    ("license", "Provider License Number_{i}", TEXT),
    ("license_state", "Provider License Number State Code_{i}", TEXT),
    ("is_primary", "Healthcare Provider Primary Taxonomy Switch_{i}", FLAG),
    ("taxonomy_group", "Healthcare Provider Taxonomy Group_{i}", TEXT),
)
IDENTIFIER_FIELDS = (
    ("identifier", "Other Provider Identifier_{i}", TEXT),
    ("type_code", "Other Provider Identifier Type Code_{i}", TEXT),
    ("state", "Other Provider Identifier State_{i}", TEXT),
    ("issuer", "Other Provider Identifier Issuer_{i}", TEXT),
)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(header: str) -> str:
    return f"nullif(trim({_ident(header)}), '')"


def _date(header: str) -> str:
    return f"try_strptime({_text(header)}, '%m/%d/%Y')::DATE"


def _slot_value(header: str, type_: str) -> str:
    return f"coalesce({_text(header)} = 'Y', false)" if type_ == FLAG else _text(header)


def _slots(fields: tuple[tuple[str, str, str], ...], slots: int) -> str:
    """A list of the non-empty numbered slots (taxonomies 1..15, identifiers 1..50) as structs."""
    structs = ", ".join(
        "struct_pack(" + ", ".join(f"{name} := {_slot_value(h.format(i=i), t)}" for name, h, t in fields) + ")"
        for i in range(1, slots + 1)
    )
    return f"list_filter([{structs}], s -> s.{fields[0][0]} IS NOT NULL)"


def read_csv_sql(path: Path, header: Sequence[str]) -> str:
    """DuckDB's streaming reader for an NPPES CSV with a checked ``header``: every value text, rejects kept.

    Rows DuckDB cannot parse go to the connection's temp tables ``nppes_rejects``/``nppes_reject_scans``
    (line numbers and errors), so a caller can list them all instead of stopping at the first.
    """
    columns = "{" + ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in header) + "}"
    return (
        f"read_csv({sql_string(str(path))}, header = true, columns = {columns}, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', encoding = 'latin-1', "
        "store_rejects = true, rejects_table = 'nppes_rejects', rejects_scan = 'nppes_reject_scans')"
    )


def provider_select_sql(path: Path, kind: str, as_of: date) -> str:
    """SELECT the provider rows of npidata file ``path`` (V2 header), one per line, in table-column order.

    ``provider_name`` is the organization name, else ``first last``; ``status`` is D when a deactivation
    date is present and no reactivation date (the API's rule), else A; dates parse from ``MM/DD/YYYY``
    (an unreadable date becomes NULL).
    """
    deactivated, reactivated = _text("NPI Deactivation Date"), _text("NPI Reactivation Date")
    person = f"nullif(concat_ws(' ', {_text(FIRST_NAME)}, {_text(LAST_NAME)}), '')"
    columns = [
        f"{_text('NPI')} AS npi",
        f"{_text('Entity Type Code')} AS entity_type",
        f"coalesce({_text(ORG_NAME)}, {person}) AS provider_name",
        f"CASE WHEN {deactivated} IS NOT NULL AND {reactivated} IS NULL THEN 'D' ELSE 'A' END AS status",
        *(f"{(_date if type_ == DATE else _text)(header)} AS {name}" for name, header, type_ in PROVIDER_FIELDS[1:]),
        f"{_slots(TAXONOMY_FIELDS, TAXONOMY_SLOTS)} AS taxonomies",
        f"{_slots(IDENTIFIER_FIELDS, IDENTIFIER_SLOTS)} AS identifiers",
        f"{sql_string(path.name)} AS source_file",
        f"{sql_string(kind)} AS source_kind",
        f"DATE {sql_string(as_of.isoformat())} AS source_date",
    ]
    return "SELECT " + ",\n       ".join(columns) + f"\nFROM {read_csv_sql(path, V2_HEADER)}"


def side_select_sql(side: SideTable, path: Path) -> str:
    """SELECT the rows of side file ``path`` in ``side.table``'s column order."""
    columns = [f"{_text(header)} AS {name}" for name, header in side.columns]
    columns.append(f"{sql_string(path.name)} AS source_file")
    return "SELECT " + ", ".join(columns) + f" FROM {read_csv_sql(path, side.header)}"


def side_table_ddl(side: SideTable, table: str) -> str:
    columns = ", ".join(f"{name} VARCHAR" for name, _ in side.columns)
    return f"CREATE TABLE {table} ({columns}, source_file VARCHAR)"


# Which bundles the provider tables hold: the monthly they were built from, then the weeklies applied.
APPLIED_BUNDLES_DDL = """
CREATE TABLE IF NOT EXISTS nppes_applied_bundles (
    bundle_key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,          -- monthly | weekly
    source_file VARCHAR NOT NULL,   -- the npidata CSV
    source_date DATE NOT NULL,      -- its cut date
    zip_sha256 VARCHAR,
    applied_at TIMESTAMP NOT NULL,  -- UTC
    rows BIGINT NOT NULL,           -- provider rows written
    superseded BIGINT NOT NULL      -- rows skipped because the table already held a newer record
)
"""
# Lines of the files read since the rejects tables were last dropped that DuckDB could not parse.
REJECTED_LINES_SQL = """
SELECT s.file_path, e.line, string_agg(DISTINCT e.error_message, '; ' ORDER BY e.error_message) AS errors
FROM nppes_rejects e JOIN nppes_reject_scans s USING (scan_id, file_id)
GROUP BY ALL ORDER BY ALL
"""
DROP_REJECTS_SQL = "DROP TABLE IF EXISTS nppes_rejects; DROP TABLE IF EXISTS nppes_reject_scans"
