"""Normalize one in-network file, streamed, into Arrow batches of rates, providers and organizations.

The flow per batch of ``in_network`` elements: a byte prefilter finds the items whose ``billing_code`` may be on
the whitelist (no parse of the rest); a compiled walk of those items (``rate_spans.py``) finds every negotiated
rate's price list, reference list and inline groups, and which rates wrote the same list; msgspec decodes each
item's own fields (its rates cut out) into a typed struct, and each distinct price list and reference list once;
the whitelist is confirmed on the item's own type and code. No Python runs per negotiated rate: its prices, its
(reference, group) pairs and its rows are numpy indices, and the expansion to one row per code × price × provider
group and the ids are numpy/Arrow/polars over whole columns, every text column a dictionary over the batch's
distinct values (``RATES_PART_SCHEMA``). Kept items gather across split batches until ``batch_rows`` rate rows are
due, so each output batch (and parquet row group) is large and memory is bounded by that row count, not by the file.

Four threads share the work of one file: a reader (``containers.readahead``) reads and inflates the chunks and
finds where each element ends, how many prices it holds and where its ``"billing_code"`` keys are
(``positions.py``); this thread splits along those ends, prefilters, walks and decodes; the caller's two
(``parallel.write_parts``) build each batch's rates table (:class:`OutputBatch` builds it when read) and write the
batch before it. What the others do, and the walk, mostly run without the GIL, so one process uses both cores.

Provider references: in-file groups, inline groups and remote reference files (fetched once per URL by the
caller's ``fetch`` with bounded concurrency; a failure is recorded for that reference and its rates keep the
reference id with no provider). When ``in_network`` comes before ``provider_references`` the prefiltered items
are spooled to a temporary file and replayed after the references are read, so memory stays flat.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import re
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urljoin

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.defs.price_transparency import ids
from medicaid_assets.defs.price_transparency.containers import readahead
from medicaid_assets.defs.price_transparency.handlers import PayerHandler, get_handler
from medicaid_assets.defs.price_transparency.model import (
    GROUPS,
    PRICES,
    REFERENCE_IDS,
    Item,
    Price,
    ProviderGroup,
    ProviderReference,
    RemoteReference,
)
from medicaid_assets.defs.price_transparency.positions import ElementIndex
from medicaid_assets.defs.price_transparency.rate_spans import RateSpans, rate_spans
from medicaid_assets.defs.price_transparency.stream import ArrayStart, Elements, Header, JsonShapeError, split_document
from medicaid_assets.defs.price_transparency.whitelist import CODE_BYTES, Whitelist

_LIST_STR = pa.list_(pa.string())

RATES_SCHEMA = pa.schema(
    [
        ("rate_uuid", pa.string()),
        ("payer_uuid", pa.string()),
        ("payer", pa.string()),
        ("file_id", pa.string()),
        ("item_index", pa.int64()),
        ("negotiation_arrangement", pa.string()),
        ("name", pa.string()),
        ("billing_code_type", pa.string()),
        ("billing_code_type_version", pa.string()),
        ("billing_code", pa.string()),
        ("description", pa.string()),
        ("negotiated_type", pa.string()),
        ("negotiated_rate", pa.float64()),
        ("expiration_date", pa.string()),
        ("billing_class", pa.string()),
        ("setting", pa.string()),
        ("service_codes", _LIST_STR),
        ("billing_code_modifiers", _LIST_STR),
        ("additional_information", pa.string()),
        ("provider_group_ref", pa.string()),
        ("provider_resolution", pa.string()),
        ("provider_group_uuid", pa.string()),
        ("organization_uuid", pa.string()),
        ("tin_type", pa.string()),
        ("tin_value", pa.string()),
        ("npi_count", pa.int32()),
    ]
)
# The rates as staged: every text column a dictionary over the batch's distinct values (an item's, a price's, a
# provider group's, the file's, an id's). Rows repeat them, so neither the build nor the parquet writer copies
# or hashes a string per row; readers of the parquet parts see plain text.
RATES_PART_SCHEMA = pa.schema(
    [pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.type == pa.string() else f for f in RATES_SCHEMA]
)
ORGANIZATIONS_SCHEMA = pa.schema(
    [
        ("organization_uuid", pa.string()),
        ("tin_type", pa.string()),
        ("tin_value", pa.string()),
        ("org_name", pa.string()),
        ("payer_uuid", pa.string()),
        ("file_id", pa.string()),
    ]
)
PROVIDERS_SCHEMA = pa.schema(
    [
        ("provider_uuid", pa.string()),
        ("npi", pa.string()),
        ("npi_valid", pa.bool_()),
        ("provider_group_uuid", pa.string()),
        ("organization_uuid", pa.string()),
        ("tin_type", pa.string()),
        ("tin_value", pa.string()),
        ("payer_uuid", pa.string()),
        ("file_id", pa.string()),
    ]
)

# provider_resolution values
INLINE, IN_FILE, REMOTE, REMOTE_FAILED, UNKNOWN_REF, NONE = (
    "inline",
    "in_file",
    "remote",
    "remote_failed",
    "unknown_reference",
    "none",
)

_ITEM = msgspec.json.Decoder(Item)
_REF = msgspec.json.Decoder(ProviderReference)
_REMOTE = msgspec.json.Decoder(RemoteReference)
_HEADER_TEXT = msgspec.json.Decoder(str | int | float | None)
_NEGOTIATED_RATE = b'"negotiated_rate"'
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%m-%d-%Y")
_SPOOL_LEN = struct.Struct("<q")
_SWITCH_INTERVAL_S = 0.0005  # while a file is read (``_quick_handovers``)
_CACHE_BYTES = 24 << 20  # each of the two caches of decoded lists (``_Cache``)
_OBJECT_BYTES = 128  # what a decoded price or a (group, reference, resolution) pair takes, about


def parse_date(text: str | None) -> date | None:
    """``last_updated_on`` as payers write it (ISO, ``10/25/2022``, ``2025-06-23T00:00:00-05:00``, ``2022-08-5``)."""
    if not text:
        return None
    value = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2}).*", value)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def token_text(raw: msgspec.Raw | bytes) -> str:
    """A provider-group id as the source wrote it: numbers keep every digit (``690.64470``), strings lose quotes."""
    text = bytes(raw).strip()
    if text[:1] == b'"':
        return msgspec.json.decode(text, type=str)
    return text.decode("ascii", "replace")


@dataclass
class FileConfig:
    """What the normalizer needs to know about the file besides its bytes."""

    payer: str
    url: str
    whitelist: Whitelist | None
    handler: str = "standard"
    parent_org: str = ""
    fetch: Callable[[str], bytes] | None = None  # remote reference files; None: not fetched (recorded)
    fetch_concurrency: int = 8
    spool_dir: Path | None = None
    batch_bytes: int = 8 << 20
    batch_rows: int = 32_000  # rate rows per output batch (and parquet row group): fewer, larger groups
    max_element_bytes: int = 1 << 30

    @property
    def payer_uuid(self) -> str:
        return ids.payer_uuid(self.payer, self.parent_org)

    @property
    def file_id(self) -> str:
        return ids.file_id(self.payer, self.url)


@dataclass
class FileSummary:
    """What was read (the ``files`` row); counts at the price level unless named rows."""

    bytes_json: int = 0
    items: int = 0
    items_kept: int = 0
    prices_kept: int = 0
    prices_dropped: int = 0
    rate_rows: int = 0
    provider_references: int = 0
    remote_references: int = 0
    remote_failed: int = 0
    reference_errors: list[dict[str, str]] = field(default_factory=list)
    refs_after_in_network: bool = False
    header: dict[str, object] = field(default_factory=dict)
    duration_s: float = 0.0
    processes: int = 1  # worker processes whose shares of the file were used (``parallel.py``)


class OutputBatch:
    """One batch of outputs. The rates table is built when ``rates`` is first read: ``write_parts`` reads it in its
    build thread, so the Arrow and polars share of the build (which runs without the GIL) overlaps the parse of the
    next batch."""

    def __init__(
        self,
        build_rates: Callable[[], pa.Table] | None,
        organizations: pa.Table | None = None,
        providers: pa.Table | None = None,
    ) -> None:
        self._build_rates = build_rates
        self.organizations = organizations
        self.providers = providers

    @functools.cached_property
    def rates(self) -> pa.Table | None:
        return None if self._build_rates is None else self._build_rates()


@dataclass
class _Group:
    tin_type: str | None
    tin_value: str | None
    npis: list[str]
    group_uuid: str | None
    org_uuid: str | None


class _Registry:
    """Every provider group of the file (deduplicated), the reference ids that point at them, and what is new."""

    def __init__(self, handler: PayerHandler) -> None:
        self.handler = handler
        self.groups: list[_Group] = []
        self._by_key: dict[tuple, int] = {}
        self.refs: dict[str, tuple[list[int], str]] = {}
        self.emitted = 0
        self._orgs: set[str] = set()

    def add(self, group: ProviderGroup) -> int:
        npis = self.handler.group_npis(group)
        tin = group.tin
        tin_type = None if tin is None or tin.type is None else str(tin.type)
        tin_value = None if tin is None or tin.value is None else str(tin.value)
        key = (tin_type, tin_value, tuple(npis))
        found = self._by_key.get(key)
        if found is not None:
            return found
        index = len(self.groups)
        self._by_key[key] = index
        org = ids.organization_uuid(tin_value) if tin_value is not None else None
        self.groups.append(_Group(tin_type, tin_value, npis, ids.provider_group_uuid(*key[:2], npis), org))
        return index

    def new_outputs(self, payer_uuid: str, file_id: str) -> tuple[pa.Table | None, pa.Table | None]:
        """Organizations and providers of the groups added since the last call."""
        fresh = self.groups[self.emitted :]
        self.emitted = len(self.groups)
        if not fresh:
            return None, None
        orgs = {}
        for g in fresh:
            if g.org_uuid is not None and g.org_uuid not in self._orgs:
                self._orgs.add(g.org_uuid)
                orgs[g.org_uuid] = g
        org_table = pa.table(
            {
                "organization_uuid": list(orgs),
                "tin_type": [g.tin_type for g in orgs.values()],
                "tin_value": [g.tin_value for g in orgs.values()],
                "org_name": [""] * len(orgs),
                "payer_uuid": [payer_uuid] * len(orgs),
                "file_id": [file_id] * len(orgs),
            },
            schema=ORGANIZATIONS_SCHEMA,
        )
        npis = [n for g in fresh for n in g.npis]
        owner = np.repeat(np.arange(len(fresh)), [len(g.npis) for g in fresh])
        npi_col = pa.array(npis, pa.string())
        take = pa.array(owner, pa.int64())
        providers = pa.table(
            {
                "provider_uuid": ids.uuid5_array(pc.binary_join_element_wise("provider", npi_col, ":")),
                "npi": npi_col,
                "npi_valid": pa.array([is_valid_npi(n) for n in npis], pa.bool_()),
                "provider_group_uuid": pc.take(pa.array([g.group_uuid for g in fresh], pa.string()), take),
                "organization_uuid": pc.take(pa.array([g.org_uuid for g in fresh], pa.string()), take),
                "tin_type": pc.take(pa.array([g.tin_type for g in fresh], pa.string()), take),
                "tin_value": pc.take(pa.array([g.tin_value for g in fresh], pa.string()), take),
                "payer_uuid": pa.repeat(payer_uuid, len(npis)) if npis else pa.array([], pa.string()),
                "file_id": pa.repeat(file_id, len(npis)) if npis else pa.array([], pa.string()),
            },
            schema=PROVIDERS_SCHEMA,
        )
        return (org_table if orgs else None), providers


class _Rows:
    """One output batch's kept items: item columns, the negotiated rates (numpy chunks, one per slice of items
    added), the distinct price lists' prices, and the (reference, group) sets each rate expands to (a set shared
    by every rate that names the same references)."""

    def __init__(self) -> None:
        self.item_cols: dict[str, list] = {k: [] for k in _ITEM_COLUMNS}
        self.nr_item: list[np.ndarray] = []  # the rate's item: its place in ``item_cols``
        self.nr_first: list[np.ndarray] = []  # where the rate's prices start in ``prices``
        self.nr_count: list[np.ndarray] = []  # how many prices it has
        self.nr_set: list[np.ndarray] = []
        self.rates = 0
        self.prices: list[Price] = []  # the distinct price lists' prices (a list repeated is stored once)
        self.price_lists: dict[bytes, int] = {}  # a list's JSON -> where its prices start in ``prices``
        self.sets: dict[bytes, int] = {}  # a reference list's text -> set id (this batch)
        self.set_start: list[int] = []
        self.set_len: list[int] = []
        self.pair_group: list[int] = []  # -1: no provider group (unresolved reference, or none given)
        self.pair_ref: list[str | None] = []
        self.pair_how: list[str] = []
        self.expected_rows = 0  # rate rows these negotiated rates expand to

    def __len__(self) -> int:
        return self.rates

    def add_set(self, pairs: Iterable[tuple[int, str | None, str]]) -> int:
        set_id = len(self.set_start)
        self.set_start.append(len(self.pair_group))
        for group, ref, how in pairs:
            self.pair_group.append(group)
            self.pair_ref.append(ref)
            self.pair_how.append(how)
        self.set_len.append(len(self.pair_group) - self.set_start[-1])
        return set_id

    def price_list(self, text: bytes, prices: tuple[Price, ...]) -> int:
        """Where the list ``text`` (decoded: ``prices``) starts in ``prices``, stored the first time it is seen."""
        first = self.price_lists.get(text)
        if first is None:
            first = self.price_lists[text] = len(self.prices)
            self.prices.extend(prices)
        return first

    def set_of(self, text: bytes, pairs: tuple[tuple[int, str | None, str], ...]) -> int:
        """The set of the reference list ``text`` (its pairs: ``pairs``), added the first time it is seen."""
        found = self.sets.get(text)
        if found is None:
            found = self.sets[text] = self.add_set(pairs)
        return found

    def column(self, chunks: list[np.ndarray]) -> np.ndarray:
        """One of the rates' columns whole."""
        return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)


class _Cache:
    """Decoded lists by their JSON text, within a budget of ~``_CACHE_BYTES``: what a file repeats is decoded once,
    and a file of millions of long, distinct lists cannot grow memory past the budget (the rest is decoded again)."""

    def __init__(self) -> None:
        self._values: dict[bytes, tuple] = {}
        self._left = _CACHE_BYTES

    def get(self, text: bytes) -> tuple | None:
        return self._values.get(text)

    def put(self, text: bytes, value: tuple) -> tuple:
        """``value``, kept for ``text`` while the budget lasts."""
        cost = len(text) + _OBJECT_BYTES * len(value)
        if cost <= self._left:
            self._values[text] = value
            self._left -= cost
        return value


class _Gathered:
    """Kept items of several split batches copied into one buffer: with the whitelist a batch keeps few items, and
    the rate walk and the numpy work per call cost about as much for a few rates as for thousands."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.kept: list[tuple[int, int, int]] = []

    def add(self, view: memoryview, kept: list[tuple[int, int, int]]) -> None:
        for index, s, e in kept:
            self.kept.append((index, len(self.buf), len(self.buf) + e - s))
            self.buf += view[s:e]

    def take(self) -> tuple[bytearray, list[tuple[int, int, int]]]:
        """The gathered items (as ``_add_items`` takes them), and an empty gathering."""
        taken = self.buf, self.kept
        self.buf, self.kept = bytearray(), []
        return taken


@dataclass
class _Expansion:
    """What a batch of items' negotiated rates expand to, before any is added to an output batch: per rate its
    price count and pair count (0 prices: no rows), per distinct list its text and decoded value, and the pairs
    of each rate with inline groups."""

    spans: RateSpans
    live: np.ndarray  # the rate's item is kept and the rate has prices
    counts: np.ndarray
    pairs_n: np.ndarray
    ref_key: np.ndarray  # the first rate with the same references (``spans.refs_same``); ``len`` for none
    price_lists: dict[int, tuple[bytes, tuple[Price, ...]]]
    ref_lists: dict[int, tuple[bytes, tuple[tuple[int, str | None, str], ...]]]
    inline: dict[int, list[tuple[int, str | None, str]]]  # by rate


_ITEM_COLUMNS = (
    "item_index",
    "negotiation_arrangement",
    "name",
    "billing_code_type",
    "billing_code_type_version",
    "billing_code",
    "description",
)
_ITEM_TEXT = _ITEM_COLUMNS[1:]


def _price_columns(prices: list[Price]) -> dict[str, pa.Array]:
    """One column per price field, one value per price (rows take from these). Plain attribute loads in a
    comprehension each: several times faster than ``getattr`` by name, and prices are the most numerous objects."""
    return {
        "negotiated_type": pa.array([p.negotiated_type for p in prices], pa.string()),
        "expiration_date": pa.array([p.expiration_date for p in prices], pa.string()),
        "billing_class": pa.array([p.billing_class for p in prices], pa.string()),
        "setting": pa.array([p.setting for p in prices], pa.string()),
        "service_codes": pa.array([p.service_code for p in prices], _LIST_STR),
        "billing_code_modifiers": pa.array([p.billing_code_modifier for p in prices], _LIST_STR),
        "additional_information": pa.array([p.additional_information for p in prices], pa.string()),
    }


def _indices(rows: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Row positions into a batch's distinct values, as dictionary indices (``missing``: rows with no value)."""
    return pa.array(rows.astype(np.int32, copy=False), mask=missing)


def _coded(indices: pa.Array, values: pa.Array) -> pa.DictionaryArray:
    """``values`` taken at ``indices`` as a dictionary array over their distinct non-null values (a parquet
    dictionary holds no nulls; encoding the batch's few values costs little next to a string per row)."""
    encoded = pc.dictionary_encode(values)
    return pa.DictionaryArray.from_arrays(encoded.indices.take(indices), encoded.dictionary)


def _named(keys: np.ndarray, n: int) -> list[int]:
    """The distinct keys in ``[0, n]`` among ``keys`` (-1s left out), in order: marked, not sorted (per rate)."""
    seen = np.zeros(n + 2, dtype=bool)
    seen[keys] = True  # -1 marks the spare last slot
    return np.flatnonzero(seen[:-1]).tolist()


def _rate_values(prices: list[Price]) -> pa.Array:
    values = [p.negotiated_rate for p in prices]
    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a payer wrote some rates as text
        return pa.array([_rate_value(v) for v in values], pa.float64())


def _rate_value(value: float | str | None) -> float | None:
    if value is None or isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        return None


class Normalizer:
    """One file's normalization; :meth:`run` yields :class:`OutputBatch` es and fills :attr:`summary`."""

    def __init__(self, config: FileConfig) -> None:
        self.config = config
        self.handler = get_handler(config.handler)
        self.registry = _Registry(self.handler)
        self.summary = FileSummary()
        self._payer_uuid = config.payer_uuid
        self._file_id = config.file_id
        wl = config.whitelist
        self._tokens = wl.tokens if wl is not None else None
        self._index = ElementIndex()
        self._pending_remote: list[tuple[str, str]] = []  # (reference id, url)
        self._pair_cache = _Cache()  # a reference list's text -> its (group, reference id, resolution) pairs
        self._price_cache = _Cache()  # a price list's text -> its decoded prices
        self._rows = _Rows()  # kept items gathered for the next output batch
        self.stopped: bool | None = None  # run(stop_at=...): whether the stop was found (None: not asked)
        self._stop_now = False

    # -- references ----------------------------------------------------------------------------------------------
    def _add_references(self, batch: Elements) -> None:
        view = memoryview(batch.buf)
        for s, e in zip(batch.starts, batch.ends, strict=True):
            ref = _REF.decode(view[s:e])
            rid = token_text(ref.provider_group_id)
            self.summary.provider_references += 1
            if ref.provider_groups:
                self.registry.refs[rid] = ([self.registry.add(g) for g in ref.provider_groups], IN_FILE)
            elif ref.location:
                self.summary.remote_references += 1
                # relative locations (rare, the sample world's) resolve against the in-network file's URL
                self._pending_remote.append((rid, urljoin(self.config.url, ref.location)))
            else:
                self.registry.refs[rid] = ([], IN_FILE)

    def _resolve_remote(self) -> None:
        """Fetch the remote reference files (once per URL, a few at a time); failures recorded per reference."""
        pending, self._pending_remote = self._pending_remote, []
        if not pending:
            return
        urls = sorted({url for _, url in pending})
        fetched: dict[str, list[ProviderGroup] | str] = {}
        fetch = self.config.fetch

        def one(url: str) -> list[ProviderGroup] | str:
            if fetch is None:
                return "remote references are not fetched in this run"
            try:
                return _REMOTE.decode(fetch(url)).provider_groups or []
            except msgspec.DecodeError as exc:
                return f"not a provider-reference file: {exc}"
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"

        with ThreadPoolExecutor(max_workers=max(1, self.config.fetch_concurrency)) as pool:
            for url, result in zip(urls, pool.map(one, urls), strict=True):
                fetched[url] = result
        for rid, url in pending:
            result = fetched[url]
            if isinstance(result, str):
                self.summary.remote_failed += 1
                self.summary.reference_errors.append({"provider_group_id": rid, "url": url, "error": result})
                self.registry.refs[rid] = ([], REMOTE_FAILED)
            else:
                self.registry.refs[rid] = ([self.registry.add(g) for g in result], REMOTE)

    # -- items ---------------------------------------------------------------------------------------------------
    def _kept_spans(self, batch: Elements) -> list[tuple[int, int, int]]:
        """(item index, start, end) of the items the byte prefilter lets through; counts the rest as dropped."""
        starts, ends, buf = batch.starts, batch.ends, batch.buf
        self.summary.items += len(starts)
        if self._tokens is None:
            return [(batch.first + i, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
        tokens, base = self._tokens, batch.offset
        lo, hi = starts[0], ends[-1]
        # the elements and their own "billing_code" keys were found by the reader thread; here only the code after
        # each key is read
        found_starts, counts, codes = self._index.between(base + lo, base + hi)
        hits: list[int] = []
        match = CODE_BYTES.match
        for at in (codes - base).tolist():
            m = match(buf, at, hi)
            if m is not None and m.group(1) in tokens:
                hits.append(at)
        which = np.unique(np.searchsorted(np.asarray(starts), np.asarray(hits, dtype=np.int64), side="right") - 1)
        kept = [(batch.first + int(i), starts[i], ends[i]) for i in which]
        kept_counts = counts[np.searchsorted(found_starts, np.asarray([s for _, s, _ in kept], dtype=np.int64) + base)]
        self.summary.prices_dropped += int(counts.sum() - kept_counts.sum())
        return kept

    def _reference_pairs(self, listed: bytes) -> tuple[tuple[int, str | None, str], ...]:
        """The (group, reference id, resolution) pairs of a list of reference ids as the file wrote it (cached by
        that text; empty for ``null`` or ``[]``)."""
        found = self._pair_cache.get(listed)
        if found is not None:
            return found
        pairs: list[tuple[int, str | None, str]] = []
        for raw in REFERENCE_IDS.decode(listed) or ():
            rid = token_text(raw)
            hit = self.registry.refs.get(rid)
            if hit is None:
                pairs.append((-1, rid, UNKNOWN_REF))
                continue
            groups, how = hit
            pairs.extend([(g, rid, how) for g in groups] or [(-1, rid, how)])
        return self._pair_cache.put(listed, tuple(pairs))

    def _items(self, view: memoryview, kept: list[tuple[int, int, int]], spans: RateSpans) -> list[Item | None]:
        """Each item's own fields (None: the whitelist drops it after all), decoded with its rates cut out; the
        whitelist is confirmed on the item's type and code."""
        wl, out = self.config.whitelist, []
        for (index, s, e), (rs, re_) in zip(kept, spans.rates_span.tolist(), strict=True):
            text = view[s:e] if rs < 0 else b"".join((view[s:rs], b"null", view[re_:e]))
            try:
                item = self.handler.item(_ITEM.decode(text))
            except msgspec.DecodeError as exc:
                raise JsonShapeError(f"in_network item {index} (counted from 0) is not a valid item: {exc}") from None
            code = "" if item.billing_code is None else str(item.billing_code)
            if wl is not None and not wl.keeps(item.billing_code_type, code):
                self.summary.prices_dropped += bytes(view[s:e]).count(_NEGOTIATED_RATE)
                out.append(None)
                continue
            out.append(item)
        return out

    def _expand(self, view: memoryview, spans: RateSpans, items: list[Item | None], indices: list[int]) -> _Expansion:
        """Decode each distinct price list and resolve each distinct reference list once; count every rate's
        prices and pairs with numpy (see :class:`_Expansion`)."""
        n = len(spans.item)
        kept_item = np.asarray([item is not None for item in items], dtype=bool)
        live = kept_item[spans.item] if n else np.zeros(0, dtype=bool)

        def fail(rate: int, key: str, exc: msgspec.DecodeError) -> JsonShapeError:
            item = int(spans.item[rate])
            at = f"negotiated_rates[{rate - int(np.searchsorted(spans.item, item))}].{key}"
            return JsonShapeError(f"in_network item {indices[item]} (counted from 0) is not a valid item: {at}: {exc}")

        price_lists: dict[int, tuple[bytes, tuple[Price, ...]]] = {}
        counts_of = np.zeros(n + 1, dtype=np.int64)
        for rate in _named(spans.prices_same[live], n):
            s, e = spans.prices[rate].tolist()
            text = bytes(view[s:e])
            decoded = self._price_cache.get(text)
            if decoded is None:
                try:
                    decoded = PRICES.decode(text) or ()
                except msgspec.DecodeError as exc:
                    raise fail(rate, "negotiated_prices", exc) from None
                self._price_cache.put(text, decoded)
            price_lists[rate] = (text, decoded)
            counts_of[rate] = len(decoded)
        counts = counts_of[spans.prices_same]  # -1 (no list) reads the spare last slot: 0
        live &= counts > 0
        ref_key = np.where(spans.refs_same < 0, n, spans.refs_same)
        ref_lists: dict[int, tuple[bytes, tuple[tuple[int, str | None, str], ...]]] = {}
        pairs_of = np.zeros(n + 1, dtype=np.int64)
        for rate in _named(ref_key[live], n):
            text = b"null" if rate == n else bytes(view[slice(*spans.refs[rate].tolist())])
            try:
                pairs = self._reference_pairs(text)
            except msgspec.DecodeError as exc:
                raise fail(rate, "provider_references", exc) from None
            ref_lists[rate] = (text, pairs)
            pairs_of[rate] = len(pairs) or 1  # no reference: one row with no provider group
        pairs_n = pairs_of[ref_key]
        inline: dict[int, list[tuple[int, str | None, str]]] = {}
        for rate in np.flatnonzero(live & (spans.groups[:, 0] >= 0)).tolist():
            s, e = spans.groups[rate].tolist()
            try:
                groups = GROUPS.decode(view[s:e])
            except msgspec.DecodeError as exc:
                raise fail(rate, "provider_groups", exc) from None
            if groups:
                pairs = list(ref_lists[int(ref_key[rate])][1]) + [(self.registry.add(g), None, INLINE) for g in groups]
                inline[rate] = pairs
                pairs_n[rate] = len(pairs)
        return _Expansion(spans, live, counts, pairs_n, ref_key, price_lists, ref_lists, inline)

    def _add_slice(
        self, rows: _Rows, x: _Expansion, items: list[Item | None], indices: list[int], a: int, b: int
    ) -> None:
        """Items ``a`` to ``b`` of the batch and their rates into ``rows``: item columns once per item, each
        distinct list once, every rate as numpy."""
        ic, at = rows.item_cols, {}
        for k in range(a, b):
            item = items[k]
            if item is None:
                continue
            at[k] = len(ic["item_index"])
            ic["item_index"].append(indices[k])
            ic["negotiation_arrangement"].append(item.negotiation_arrangement)
            ic["name"].append(item.name)
            ic["billing_code_type"].append(item.billing_code_type)
            version = item.billing_code_type_version
            ic["billing_code_type_version"].append(None if version is None else str(version))
            ic["billing_code"].append("" if item.billing_code is None else str(item.billing_code))
            ic["description"].append(item.description)
        self.summary.items_kept += len(at)
        r0, r1 = np.searchsorted(x.spans.item, (a, b))
        rates = r0 + np.flatnonzero(x.live[r0:r1])
        if not len(rates):
            return
        n = len(x.spans.item)
        first_of = np.zeros(n + 1, dtype=np.int64)
        for rate in _named(x.spans.prices_same[rates], n):
            first_of[rate] = rows.price_list(*x.price_lists[rate])
        set_of = np.zeros(n + 1, dtype=np.int64)
        has_inline = np.isin(rates, list(x.inline)) if x.inline else np.zeros(len(rates), dtype=bool)
        for rate in _named(x.ref_key[rates[~has_inline]], n):
            text, pairs = x.ref_lists[rate]
            set_of[rate] = rows.set_of(text, pairs or ((-1, None, NONE),))
        sets = set_of[x.ref_key[rates]]
        for i in np.flatnonzero(has_inline).tolist():  # each rate with inline groups has a set of its own
            sets[i] = rows.add_set(x.inline[int(rates[i])])
        item_at = np.zeros(b - a, dtype=np.int64)
        item_at[np.asarray(list(at), dtype=np.int64) - a] = list(at.values())
        counts = x.counts[rates]
        rows.nr_item.append(item_at[x.spans.item[rates] - a])
        rows.nr_first.append(first_of[x.spans.prices_same[rates]])
        rows.nr_count.append(counts)
        rows.nr_set.append(sets)
        rows.rates += len(rates)
        self.summary.prices_kept += int(counts.sum())
        rows.expected_rows += int((counts * x.pairs_n[rates]).sum())

    def _rates_table(self, rows: _Rows, groups: list[_Group]) -> pa.Table:
        per_nr = rows.column(rows.nr_count)
        price_nr = np.repeat(np.arange(len(per_nr)), per_nr)
        # each price of each negotiated rate, as its place among the distinct prices
        occurrence = rows.column(rows.nr_first)[price_nr] + (
            np.arange(len(price_nr)) - (np.cumsum(per_nr) - per_nr)[price_nr]
        )
        price_set = rows.column(rows.nr_set)[price_nr]
        set_start = np.asarray(rows.set_start, dtype=np.int64)[price_set]
        counts = np.asarray(rows.set_len, dtype=np.int64)[price_set]
        row_price = np.repeat(np.arange(len(price_set)), counts)
        first_row = np.cumsum(counts) - counts
        pair = np.repeat(set_start - first_row, counts) + np.arange(len(row_price))
        price_item = rows.column(rows.nr_item)[price_nr]
        kept_items = {
            k: pa.array(v, pa.int64() if k == "item_index" else pa.string()) for k, v in rows.item_cols.items()
        }
        row_item, row_distinct = price_item[row_price], occurrence[row_price]
        n = len(row_price)
        by_item, by_price = _indices(row_item), _indices(row_distinct)
        distinct = _price_columns(rows.prices)
        distinct_rates = _rate_values(rows.prices)
        group_index = np.asarray(rows.pair_group, dtype=np.int64)[pair]
        known = group_index >= 0
        # the group columns hold only the groups this batch's rows name: a file's groups can run to millions
        used, local = np.unique(group_index[known], return_inverse=True)
        row_group = np.full(n, -1, dtype=np.int64)
        row_group[known] = local.reshape(-1)
        by_group = _indices(row_group, ~known)
        named = [groups[i] for i in used.tolist()]
        g_org = pa.array([g.org_uuid for g in named] or [None], pa.string())
        by_pair = _indices(pair)
        once = _indices(np.zeros(n, dtype=np.int64))
        columns: dict[str, pa.Array] = {
            "rate_uuid": self._rate_ids(
                row_item,
                row_distinct,
                row_group,
                g_org,
                kept_items["billing_code"],
                distinct_rates,
                distinct["expiration_date"],
            ),
            "payer_uuid": _coded(once, pa.array([self._payer_uuid])),
            "payer": _coded(once, pa.array([self.config.payer])),
            "file_id": _coded(once, pa.array([self._file_id])),
            "item_index": kept_items["item_index"].take(by_item),
            **{k: _coded(by_item, kept_items[k]) for k in _ITEM_TEXT},
            "negotiated_rate": distinct_rates.take(by_price),
            **{k: _coded(by_price, v) if v.type == pa.string() else v.take(by_price) for k, v in distinct.items()},
            "provider_group_ref": _coded(by_pair, pa.array(rows.pair_ref, pa.string())),
            "provider_resolution": _coded(by_pair, pa.array(rows.pair_how, pa.string())),
            "provider_group_uuid": _coded(by_group, pa.array([g.group_uuid for g in named] or [None], pa.string())),
            "organization_uuid": _coded(by_group, g_org),
            "tin_type": _coded(by_group, pa.array([g.tin_type for g in named] or [None], pa.string())),
            "tin_value": _coded(by_group, pa.array([g.tin_value for g in named] or [None], pa.string())),
            "npi_count": pa.array([len(g.npis) for g in named] or [0], pa.int32()).take(by_group),
        }
        return pa.table([columns[name] for name in RATES_PART_SCHEMA.names], schema=RATES_PART_SCHEMA)

    def _rate_ids(
        self,
        row_item: np.ndarray,
        row_price: np.ndarray,
        group_index: np.ndarray,
        g_org: pa.Array,
        item_codes: pa.ChunkedArray,
        price_rates: pa.Array,
        price_expirations: pa.Array,
    ) -> pa.Array:
        """The rate id of every row (``row_price``: its place among the distinct prices), hashed once per distinct
        (item, price, organization): the name holds no more than the code, rate, date and organization, and rows
        repeat them (a price list shared by many provider groups, every group of a TIN, unresolved groups)."""
        org_codes = pc.dictionary_encode(g_org)
        orgs_n, prices_n = len(org_codes.dictionary) + 1, max(len(price_rates), 1)
        org_of_group = np.asarray(pc.fill_null(org_codes.indices, -1))
        org_of_row = np.where(group_index >= 0, org_of_group[np.maximum(group_index, 0)], -1)
        key = (row_item.astype(np.int64) * prices_n + row_price) * orgs_n + (org_of_row + 1)
        distinct, row_to_distinct = np.unique(key, return_inverse=True)
        distinct_org = distinct % orgs_n - 1
        distinct_item, distinct_price = np.divmod(distinct // orgs_n, prices_n)
        orgs = pc.take(org_codes.dictionary, pa.array(np.maximum(distinct_org, 0), mask=distinct_org < 0))
        take_price = pa.array(distinct_price)
        uuids = ids.rate_uuids(
            self._payer_uuid,
            orgs,
            item_codes.take(pa.array(distinct_item)),
            price_rates.take(take_price),
            price_expirations.take(take_price),
        )
        return _coded(_indices(row_to_distinct.reshape(-1)), uuids)

    def _emit(self) -> OutputBatch:
        rows, self._rows = self._rows, _Rows()
        self.summary.rate_rows += rows.expected_rows
        # the registry's list itself: the build may run in another thread while groups are appended, and it reads
        # only the groups this batch's rows name, which are there already
        build = functools.partial(self._rates_table, rows, self.registry.groups) if len(rows) else None
        orgs, providers = self.registry.new_outputs(self._payer_uuid, self._file_id)
        return OutputBatch(build, orgs, providers)

    def _add_items(self, buf: bytes | bytearray, kept: list[tuple[int, int, int]]) -> Iterator[OutputBatch]:
        """Add the kept items ``(index, start, end)`` of ``buf``; a batch whenever ``batch_rows`` rate rows have
        gathered (items of many split batches share one output batch: larger row groups, less fixed cost per
        batch; a batch is cut between items, so it holds at most one item's rows more)."""
        if not kept:
            return
        view = memoryview(buf)
        indices = [index for index, _, _ in kept]
        spans = rate_spans(view, np.asarray([s for _, s, _ in kept]), np.asarray([e for _, _, e in kept]), indices)
        items = self._items(view, kept, spans)
        x = self._expand(view, spans, items, indices)
        item_rows = np.bincount(spans.item, weights=x.counts * x.pairs_n * x.live, minlength=len(kept)).tolist()
        a, due = 0, self.config.batch_rows - self._rows.expected_rows
        for k, rows_k in enumerate(item_rows):
            due -= rows_k
            if due <= 0:
                self._add_slice(self._rows, x, items, indices, a, k + 1)
                yield self._emit()
                a, due = k + 1, self.config.batch_rows
        if a < len(kept):
            self._add_slice(self._rows, x, items, indices, a, len(kept))

    # -- the file ------------------------------------------------------------------------------------------------
    def run(
        self, chunks: Iterable[bytes], *, stop_at: int | Callable[[int], int] | None = None
    ) -> Iterator[OutputBatch]:
        """The file's output batches. ``stop_at``: the byte where another process's share of ``in_network`` begins
        (see ``parallel.py``), or a function that gets how far the reading is (the end of each batch of elements)
        and says where that share begins as it stands; reading stops at the element that starts exactly there
        (:attr:`stopped` is True), and when no element starts there the guess was wrong and the whole file is read
        (:attr:`stopped` is False)."""
        started = time.perf_counter()
        refs_done = False
        spool = None
        gathered = _Gathered()
        with contextlib.ExitStack() as stack:
            stack.enter_context(_quick_handovers())
            found = self._index  # the reader thread also finds where the elements end (and the prefilter's keys)
            read = readahead(found.scan(chunks))
            stack.callback(read.close)  # the reader thread ends with the run, also when it stops early
            for event in split_document(
                found.record(read),
                batch_bytes=self.config.batch_bytes,
                max_element_bytes=self.config.max_element_bytes,
                index=found,
            ):
                if stop_at is not None and isinstance(event, Elements) and event.key == "in_network":
                    stop = stop_at if isinstance(stop_at, int) else stop_at(event.offset + event.ends[-1])
                    event, ahead = self._before(event, stop)
                    if ahead is None:
                        stop_at = None
                    if event is None:
                        break
                if isinstance(event, ArrayStart):
                    found.forget(event.offset)
                    if event.key == "in_network" and not refs_done:
                        spool = stack.enter_context(tempfile.TemporaryFile(dir=self.config.spool_dir))
                    elif event.key == "in_network":
                        self._resolve_remote()
                    continue
                if isinstance(event, Elements):
                    found.forget(event.offset + event.starts[0])
                    if event.key == "provider_references":
                        self._add_references(event)
                        refs_done = True
                        if spool is not None:
                            self.summary.refs_after_in_network = True
                        continue
                    kept = self._kept_spans(event)
                    view = memoryview(event.buf)
                    if spool is not None:
                        for index, s, e in kept:
                            spool.write(_SPOOL_LEN.pack(index) + _SPOOL_LEN.pack(e - s))
                            spool.write(view[s:e])
                        continue
                    if sum(e - s for _, s, e in kept) < self.config.batch_bytes // 4:
                        gathered.add(view, kept)
                        if len(gathered.buf) >= self.config.batch_bytes // 2:
                            yield from self._add_items(*gathered.take())
                    else:
                        yield from self._add_items(*gathered.take())
                        yield from self._add_items(event.buf, kept)
                    if self._stop_now:
                        break
                    continue
                if isinstance(event, Header):
                    self.summary.bytes_json = event.total_bytes
                    self.summary.header = _header_fields(event.fields)
            yield from self._add_items(*gathered.take())
            self._resolve_remote()
            if spool is not None:
                yield from self._replay(spool)
            # the last rows, and groups registered by references no kept rate used (they belong to providers too)
            yield self._emit()
        self.summary.duration_s = time.perf_counter() - started

    def _before(self, batch: Elements, stop_at: int) -> tuple[Elements | None, int | None]:
        """The part of ``batch`` before the element starting at ``stop_at`` (None: that element came first), and
        the stop still ahead (None once reached, or once passed without an element starting there)."""
        at = stop_at - batch.offset
        i = bisect.bisect_left(batch.starts, at)
        if i < len(batch.starts) and batch.starts[i] == at:
            self.stopped = True
            if i == 0:
                return None, None
            kept = Elements(batch.key, batch.buf, batch.starts[:i], batch.ends[:i], batch.first, batch.offset)
            self._stop_now = True
            return kept, None
        if i < len(batch.starts) or batch.ends[-1] > at:
            self.stopped = False  # the guessed start is inside an element: read on to the end
            return batch, None
        return batch, stop_at

    def _replay(self, spool) -> Iterator[OutputBatch]:
        """The spooled items again, in batches of about ``batch_bytes``."""
        spool.seek(0)
        gathered = _Gathered()
        while head := spool.read(16):
            index, length = _SPOOL_LEN.unpack(head[:8])[0], _SPOOL_LEN.unpack(head[8:])[0]
            gathered.add(memoryview(spool.read(length)), [(index, 0, length)])
            if len(gathered.buf) >= self.config.batch_bytes:
                yield from self._add_items(*gathered.take())
        yield from self._add_items(*gathered.take())


@contextlib.contextmanager
def _quick_handovers() -> Iterator[None]:
    """Let the reader and writer threads take the GIL back sooner while a file is read. Their C calls (inflating,
    finding keys, building and writing Arrow tables) release it and must wait for this thread, which holds it most
    of the time and yields it only every switch interval (5 ms by default); at 0.5 ms the whitelist task ran 5-10 %
    faster (docs/performance.md). The previous interval comes back after the file."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, _SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


_HEADER_KEYS = (
    "reporting_entity_name",
    "reporting_entity_type",
    "plan_name",
    "plan_id_type",
    "plan_id",
    "plan_market_type",
    "last_updated_on",
    "version",
)


def _header_fields(fields: dict[str, bytes]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in _HEADER_KEYS:
        raw = fields.get(key)
        if raw is None:
            continue
        try:
            value = _HEADER_TEXT.decode(raw)
        except msgspec.DecodeError:
            value = raw.decode("utf-8", "replace")
        out[key] = None if value is None else str(value)
    return out


def normalize_file(chunks: Iterable[bytes], config: FileConfig) -> tuple[list[OutputBatch], FileSummary]:
    """The whole file in memory (tests and small files): every batch and the summary."""
    normalizer = Normalizer(config)
    batches = list(normalizer.run(chunks))
    return batches, normalizer.summary
