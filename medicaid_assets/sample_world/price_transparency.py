"""Payers' price-transparency files for the sample world, built from the real samples' shapes.

Five payers, each with a table of contents listing its in-network files as signed URLs:

- ``carefirst_sample``: the real CareFirst file's layout (v1, remote ``location`` references with float ids), its
  first items repeated to the world's scale, as ``.json.gz``; the reference files are served on loopback, except
  every tenth, which is missing (404), as real payers' often are.
- ``uhc_tpa_sample``: the real UHC TPA excerpt (in-file references, MS-DRG/HCPCS/CPT), ``.json``.
- ``dean_sample``: the real Dean excerpt (``10/25/2022``, ``[""]`` modifiers), its remote reference on loopback,
  served as a ``.zip`` like Kaiser's and Optum's.
- ``edge_sample``: dolthub's refs-after-in_network file, ``.json``, with the two root fields the schema requires and
  the test file leaves out (``reporting_entity_type``, ``last_updated_on``), so its blocking check passes in the demo.
- ``evry_sample``: the real Evry elements reassembled into one document (inline groups, tin type ``npi``).

Every NPI the files name (provider groups, and tins of type ``npi``) is re-pointed at an active provider of the
world's NPPES file with a US practice location (:func:`world_npis`, fixed by the seed), so the rates warehouse finds
each group's state and joins its state benchmarks, as it does with real files and the real NPPES.

ToC files hold ``__BASE__`` (the server's URL) and ``__EXPIRES__`` (now + a few minutes, epoch seconds), which the
server fills in on every fetch: a ToC fetched later hands out fresh signed links, and the server answers 403 to a
link whose ``Expires`` has passed.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.sample_world.providers import provider
from medicaid_assets.sample_world.spec import WorldSpec

HOST = "mrf.payers.sample-world.example"
BASE, EXPIRES = "__BASE__", "__EXPIRES__"
SIGNED_TTL_SECONDS = 300
PAYERS = ("carefirst_sample", "uhc_tpa_sample", "dean_sample", "edge_sample", "evry_sample")
_FORMATS = resources.files("medicaid_assets.formats")
_CAREFIRST_ITEMS_AT_SCALE_1 = 50_000  # ~850 MB of JSON: a mid-size real in-network file
WORLD_NPIS = 2_000  # at most this many providers stand in for the files' NPIs
_NPI_LIST = re.compile(r'"npi"\s*:\s*\[[^\]]*\]')
_NPI_TIN = re.compile(r'("type"\s*:\s*"npi"\s*,\s*"value"\s*:\s*")(\d{10})"')
_TEN_DIGITS = re.compile(r"\b\d{10}\b")


def world_npis(spec: WorldSpec) -> list[str]:
    """The first ``WORLD_NPIS`` providers of the world's monthly NPPES file that are active and practise in the US."""
    npis: list[str] = []
    for index in spec.range_registered():
        p = provider(spec, index)
        if p.entity_type and not p.deactivated and p.location is not None and p.location.country == "US":
            npis.append(p.npi)
            if len(npis) == WORLD_NPIS:
                break
    return npis


def repoint_npis(text: str, npis: list[str]) -> str:
    """``text`` with every NPI of an ``npi`` list or an ``npi``-type tin replaced by one of ``npis`` (the same NPI
    always by the same one; integers stay integers, strings strings)."""

    def one(npi: str) -> str:
        return npis[int(npi) * 2_654_435_761 % len(npis)]

    text = _NPI_LIST.sub(lambda m: _TEN_DIGITS.sub(lambda d: one(d.group()), m.group()), text)
    return _NPI_TIN.sub(lambda m: f'{m.group(1)}{one(m.group(2))}"', text)


def _sample(name: str) -> bytes:
    data = _FORMATS.joinpath(name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _signed(path: str) -> str:
    return f"{BASE}/{HOST}/{path}?Expires={EXPIRES}&Signature=sample-world&Key-Pair-Id=SAMPLE"


def _toc(name: str, files: list[str], version: str = "1.0.0") -> bytes:
    return json.dumps(
        {
            "reporting_entity_name": name,
            "reporting_entity_type": "health insurance issuer",
            "reporting_structure": [
                {
                    "reporting_plans": [
                        {
                            "plan_name": f"{name} PPO",
                            "plan_id_type": "ein",
                            "plan_id": "123456789",
                            "plan_market_type": "group",
                        }
                    ],
                    "in_network_files": [{"description": f.rsplit("/", 1)[-1], "location": _signed(f)} for f in files],
                }
            ],
            "version": version,
        },
        indent=1,
    ).encode()


def carefirst_items(count: int) -> tuple[bytes, bytes, list[bytes]]:
    """(head through ``"in_network":[``, tail, items) of the real CareFirst file: its first ``count`` items cycled."""
    doc = _sample("tic_real_carefirst_in_network_remote_refs.json.gz")
    start = doc.index(b"[", doc.index(b'"in_network"')) + 1
    end = doc.rindex(b"]")
    body = doc[start:end]
    items: list[bytes] = []
    depth, begin, in_str, esc = 0, 0, False, False
    for i, ch in enumerate(body):  # items are few (1,773) and this runs once per world
        if in_str:
            esc, in_str = (False, in_str) if esc else (ch == 0x5C, ch != 0x22)
            continue
        if ch == 0x22:
            in_str = True
        elif ch == 0x7B:
            depth += 1
            if depth == 1:
                begin = i
        elif ch == 0x7D:
            depth -= 1
            if depth == 0:
                items.append(body[begin : i + 1])
    # the CMS-listed codes first, so that a small world still has rates the default whitelist keeps
    lines = _sample("tic_500_shoppable_services_cpt_whitelist.csv").decode().splitlines()[1:]
    listed = {line.split(",", 1)[0].strip().encode() for line in lines}
    items.sort(key=lambda item: _code_of(item) not in listed)
    return doc[:start], doc[end:], [items[i % len(items)] for i in range(count)]


def _code_of(item: bytes) -> bytes:
    m = re.search(rb'"billing_code"\s*:\s*"([^"]*)"', item)
    return m.group(1) if m else b""


def write_price_transparency_files(spec: WorldSpec, files: Path) -> dict:
    root = files / HOST
    (root / "refs").mkdir(parents=True)
    (root / "in-network").mkdir()
    (root / "toc").mkdir()
    npis = world_npis(spec)
    # CareFirst: remote references re-pointed at the world, one in ten missing
    head, tail, items = carefirst_items(max(20, int(_CAREFIRST_ITEMS_AT_SCALE_1 * spec.scale)))
    text = head.decode()  # references rewritten as text: the float ids keep their exact digits
    missing = 0
    for n, location in enumerate(sorted(set(_locations(text)))):
        name = location.rsplit("/", 1)[-1]
        text = text.replace(location, f"/{HOST}/refs/{name}")  # root-relative: the world's port is not known yet
        if n % 10 == 9:
            missing += 1
            continue
        pair = [int(npis[(2 * n) % len(npis)]), int(npis[(2 * n + 1) % len(npis)])]
        (root / "refs" / name).write_text(
            json.dumps({"provider_groups": [{"npi": pair, "tin": {"type": "ein", "value": f"52{n:07d}"}}]})
        )
    with _gzip(root / "in-network" / "carefirst_in-network-rates.json.gz", level=1) as out:
        out.write(text.encode())
        for i, item in enumerate(items):
            out.write(item if i == 0 else b"," + item)
        out.write(tail)
    (root / "toc" / "carefirst_index.json").write_bytes(
        _toc("CareFirst Sample", ["in-network/carefirst_in-network-rates.json.gz"])
    )
    # UHC TPA, as published but for its NPIs
    (root / "in-network" / "uhc_tpa_in-network.json").write_text(
        repoint_npis(_sample("tic_real_uhc_tpa_in_network_excerpt.json.gz").decode(), npis)
    )
    (root / "toc" / "uhc_tpa_index.json").write_bytes(_toc("UHC TPA Sample", ["in-network/uhc_tpa_in-network.json"]))
    # Dean, in a zip, its remote reference on loopback
    dean = repoint_npis(_sample("tic_real_dean_health_in_network_excerpt.json").decode(), npis)
    for location in set(_locations(dean)):
        dean = dean.replace(location, f"/{HOST}/refs/dean_provider_reference.json")
    (root / "refs" / "dean_provider_reference.json").write_text(
        repoint_npis(_sample("tic_v1_provider_reference_example.json").decode(), npis)
    )
    with zipfile.ZipFile(root / "in-network" / "dean_in-network.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        member = zipfile.ZipInfo("dean_in-network.json", date_time=(2022, 10, 25, 0, 0, 0))
        archive.writestr(member, dean, compress_type=zipfile.ZIP_DEFLATED)
    (root / "toc" / "dean_index.json").write_bytes(_toc("Dean Sample", ["in-network/dean_in-network.zip"]))
    # The refs-after-in_network edge file (its remote reference points at the CMS example); the order of its keys,
    # which is the edge case, is kept, and the required root fields it lacks are added before `in_network`.
    edge = repoint_npis(_sample("tic_edgecase_refs_after_in_network_dolthub.json").decode(), npis)
    edge = edge.replace('"version"', '"reporting_entity_type": "Test", "last_updated_on": "2024-01-01", "version"', 1)
    for location in set(_locations(edge)):
        edge = edge.replace(location, f"/{HOST}/refs/dean_provider_reference.json")
    (root / "in-network" / "edge_in-network.json").write_text(edge)
    (root / "toc" / "edge_index.json").write_bytes(_toc("Edge Sample", ["in-network/edge_in-network.json"]))
    # Evry: the real elements reassembled (line 1 = the document's head, each later line one element)
    evry = repoint_npis(_sample("tic_real_evry_health_in_network_2025_excerpt.jsonl.gz").decode(), npis)
    first, *elements = evry.splitlines()
    with _gzip(root / "in-network" / "evry_in-network.json.gz") as out:
        out.write((first + ",".join(elements) + "]}").encode())
    (root / "toc" / "evry_index.json").write_bytes(_toc("Evry Sample", ["in-network/evry_in-network.json.gz"], "2.0.0"))
    return {"payers": len(PAYERS), "carefirst_items": len(items), "missing_references": missing}


@contextmanager
def _gzip(path: Path, level: int = 6) -> Iterator[gzip.GzipFile]:
    """A gzip writer with a fixed header time: the same seed gives byte-identical worlds."""
    with path.open("wb") as raw, gzip.GzipFile(path.name, "wb", level, raw, mtime=0) as out:
        yield out


def _locations(text: str) -> list[str]:
    return re.findall(r'"location"\s*:\s*"(https?://[^"]+)"', text)


def toc_path(payer: str) -> str:
    """The ToC of a sample payer, relative to the world's base URL."""
    return f"{HOST}/toc/{payer.removesuffix('_sample')}_index.json"


def world_catalog(base_url: str, dest: Path, whitelist: str = "cms500") -> Path:
    """A payer catalog for the sample world at ``base_url`` (the pipeline reads it via ``MEDICAID_PT_CATALOG``)."""
    lines = ["payers:"]
    for payer in PAYERS:
        lines += [
            f"  {payer}:",
            f"    toc_url: {base_url.rstrip('/')}/{toc_path(payer)}",
            "    handler: standard",
            f"    whitelist: {'all' if payer != 'carefirst_sample' else whitelist}",
        ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest, "w", encoding="utf-8") as fh:  # another process may be reading the same world's catalog
        fh.write("\n".join(lines) + "\n")
    return dest


def signed_reply(
    files_root: Path,
    path: str,
    query: dict[str, str],
    base_url: str,
    expired: Callable[[], bool] = lambda: False,
) -> tuple[int, bytes, str] | None:
    """The server's answer for signed links and ToCs (None: serve the file as usual).

    A link whose ``Expires`` has passed gets S3's 403; a ToC gets fresh links (``Expires`` = now + the TTL), or,
    when ``expired()`` says so (the server's ``expire_signed_links`` control), links that expired a second ago.
    """
    expires = query.get("Expires", "")
    if expires.isdigit() and int(expires) < time.time():
        body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        return 403, body, "application/xml"
    if path.lstrip("/").startswith(f"{HOST}/toc/"):
        target = (files_root / path.lstrip("/")).resolve()
        if not target.is_relative_to(files_root.resolve()) or not target.is_file():
            return None
        body = target.read_bytes().replace(BASE.encode(), base_url.encode())
        expires = int(time.time()) + (-1 if expired() else SIGNED_TTL_SECONDS)
        body = body.replace(EXPIRES.encode(), str(expires).encode())
        return 200, body, "application/json"
    return None
