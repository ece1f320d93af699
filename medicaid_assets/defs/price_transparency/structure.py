"""Structure analysis (the original's "smart payer integration", done by reading): stream the first items of a
file and say which shape it has and which handler fits. Reads at most ``max_items`` items, never the whole file."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import msgspec

from medicaid_assets.defs.price_transparency.model import ProviderReference
from medicaid_assets.defs.price_transparency.stream import ArrayStart, Elements, Header, split_document

_REF = msgspec.json.Decoder(ProviderReference)
_DATE_SHAPES = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "YYYY-MM-DD"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "MM/DD/YYYY"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T"), "ISO datetime"),
    (re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$"), "YYYY-M-D (unpadded)"),
)


def date_shape(text: str | None) -> str:
    if not text:
        return "missing"
    return next((name for pattern, name in _DATE_SHAPES if pattern.match(text)), "other")


def analyze(chunks: Iterable[bytes], max_items: int = 50) -> dict[str, object]:
    """Shape of one in-network file from its first ``max_items`` items (and references seen before them)."""
    order: list[str] = []
    refs = remote = float_ids = 0
    inline = nested = items = 0
    code_types: Counter[str] = Counter()
    header: dict[str, object] = {}
    events = split_document(chunks)
    try:
        for event in events:
            if isinstance(event, ArrayStart):
                order.append(event.key)
                header.update({k: msgspec.json.decode(v) for k, v in event.fields_before.items() if len(v) < 10_000})
            elif isinstance(event, Elements):
                for s, e in zip(event.starts, event.ends, strict=True):
                    raw = event.buf[s:e]
                    if event.key == "provider_references":
                        refs += 1
                        ref = _REF.decode(raw)
                        remote += bool(ref.location) and not ref.provider_groups
                        float_ids += b"." in bytes(ref.provider_group_id)
                    elif items < max_items:
                        items += 1
                        inline += b'"provider_groups"' in raw
                        nested += b'"providers"' in raw
                        item = msgspec.json.decode(raw)
                        code_types[str(item.get("billing_code_type"))] += 1
                if "in_network" in order and items >= max_items:
                    break
            elif isinstance(event, Header):
                header.update({k: msgspec.json.decode(v) for k, v in event.fields.items() if len(v) < 10_000})
    finally:
        events.close()
    version = str(header.get("version", "")) if header else ""
    return {
        "version": version or "unknown",
        "generation": "v2" if version.startswith("2") else "v1" if version else "unknown",
        "items_read": items,
        "provider_references_seen": refs,
        "remote_references": remote,
        "float_reference_ids": float_ids,
        "references_before_in_network": order[:1] == ["provider_references"],
        "items_with_inline_groups": inline,
        "items_with_nested_providers": nested,
        "billing_code_types": dict(code_types),
        "last_updated_on_format": date_shape(str(header["last_updated_on"]))
        if "last_updated_on" in header
        else "missing",
        "handler": "nested_providers" if nested else "standard",
    }
