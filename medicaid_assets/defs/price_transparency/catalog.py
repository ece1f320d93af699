"""The payer catalog (``payers.yaml``): which payers to read, from which table of contents, with which handler."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from medicaid_assets.defs.price_transparency.handlers import get_handler
from medicaid_assets.defs.price_transparency.whitelist import Whitelist, load_whitelist

DEFAULT_CATALOG = Path(__file__).with_name("payers.yaml")
_NAME = re.compile(r"^[a-z0-9_]{1,60}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
WHITELISTS = ("cms500", "all")


@dataclass(frozen=True)
class Payer:
    name: str
    toc_url: str
    handler: str = "standard"
    whitelist: str = "cms500"
    parent_org: str = ""
    max_files: int | None = None

    def whitelist_codes(self) -> Whitelist | None:
        return None if self.whitelist == "all" else load_whitelist()


def load_catalog(path: Path = DEFAULT_CATALOG) -> dict[str, Payer]:
    """Read and validate the catalog; errors name the payer and the field."""
    doc = yaml.safe_load(path.read_text()) or {}
    payers: dict[str, Payer] = {}
    for name, entry in (doc.get("payers") or {}).items():
        where = f"{path.name}: payer {name!r}"
        if not _NAME.match(str(name)):
            raise ValueError(f"{where}: names are lower-case letters, digits and '_' (they become partition keys)")
        if not isinstance(entry, dict) or not entry.get("toc_url"):
            raise ValueError(f"{where}: needs a toc_url")
        payer = Payer(
            name=str(name),
            toc_url=str(entry["toc_url"]),
            handler=str(entry.get("handler", "standard")),
            whitelist=str(entry.get("whitelist", "cms500")),
            parent_org=str(entry.get("parent_org", "")),
            max_files=int(entry["max_files"]) if entry.get("max_files") is not None else None,
        )
        get_handler(payer.handler)  # an unknown handler fails here, naming the registered ones
        if payer.whitelist not in WHITELISTS:
            raise ValueError(f"{where}: whitelist is one of {WHITELISTS}, not {payer.whitelist!r}")
        payers[payer.name] = payer
    return payers


def url_key(payer: str, url: str) -> str:
    """One in-network file of a payer, whatever its content: ``<payer>__<file stem>-<hash of the URL without query>``.

    Signed URLs change their query on every ToC fetch, so the key ignores it; the hash keeps two files of the
    same name in different folders apart.
    """
    bare = url.split("?", 1)[0]
    stem = PurePosixPath(urlsplit(bare).path).name
    for suffix in (".gz", ".zip", ".7z", ".json"):
        stem = stem.removesuffix(suffix)
    stem = _UNSAFE.sub("-", stem)[:80] or "file"
    return f"{payer}__{stem}-{hashlib.sha1(bare.encode()).hexdigest()[:8]}"


def file_key(url_key_: str, version: str) -> str:
    """The dynamic partition of one published content of a file: its :func:`url_key` and a hash of its version
    (``versions.version_of``). A payer listing the same unchanged file again next month gives the same key (not
    read again); a file rewritten at the same URL gives a new one."""
    return f"{url_key_}-{hashlib.sha1(version.encode()).hexdigest()[:6]}"


def url_key_of(file_key_: str) -> str:
    return file_key_.rsplit("-", 1)[0]
