"""The original tool's UUIDv5 ids (``uuid5(NAMESPACE_DNS, name)``), computed a column at a time.

Recipes (the names hashed), kept exactly so users can join old and new outputs:

- payer: ``payer:{payer_name}:{parent_org}``
- organization: ``org:{tin}:{org_name}`` (TiC files carry no organization name, so ``org_name`` is empty)
- provider: ``provider:{npi}``
- rate: ``rate:{payer_uuid}:{organization_uuid}:{billing_code}:{negotiated_rate}:{expiration_date}``, the rate
  written as Python prints a float (``219.17``, ``100.0``) and an unresolved organization as the empty string

and our own, for what the original did not identify:

- provider group: ``provider_group:{tin_type}:{tin_value}:{npi,npi,...}`` (NPIs sorted), the same group in any file
- file: ``file:{payer_name}:{url without query}`` (signed URLs change their query on every ToC fetch)

A uuid5 is SHA-1 over the namespace and the name. The SHA-1s of a whole column are one polars-hash call (Rust,
without the GIL, ~4x a ``hashlib`` call per name, which cost ~0.7 us a row); the version and variant digits and the
dashes are numpy over all of them at once.
"""

from __future__ import annotations

import uuid

import numpy as np
import polars as pl
import polars_hash as plh
import pyarrow as pa
import pyarrow.compute as pc

NAMESPACE = uuid.NAMESPACE_DNS
_NAMESPACE = pa.scalar(NAMESPACE.bytes, pa.binary())
_NO_SEPARATOR = pa.scalar(b"", pa.binary())
# the variant digit of a uuid (RFC 4122: 10xx): the SHA-1's hex digit at that place, its top two bits replaced
_VARIANT = np.zeros(256, dtype=np.uint8)
for _digit in "0123456789abcdef":
    _VARIANT[ord(_digit)] = ord(f"{int(_digit, 16) & 0x3 | 0x8:x}")


def uuid5_text(name: str) -> str:
    """One id: equal to ``str(uuid.uuid5(NAMESPACE_DNS, name))``."""
    return str(uuid.uuid5(NAMESPACE, name))


def _hash_all(names: pa.Array) -> pa.Array:
    """The uuid5 of every name of a binary array without nulls."""
    count = len(names)
    if not count:
        return pa.array([], pa.string())
    keyed = pc.binary_join_element_wise(_NAMESPACE, names, _NO_SEPARATOR)
    frame = pl.DataFrame({"name": pl.from_arrow(keyed)})
    digests = frame.select(plh.col("name").nchash.sha1()).to_series().to_arrow().cast(pa.large_string())
    offsets = np.frombuffer(digests.buffers()[1], dtype=np.int64)[digests.offset : digests.offset + count + 1]
    text = np.frombuffer(digests.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(count, 40)
    out = np.full((count, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = text[:, 0:8], text[:, 8:12], text[:, 12:16]
    out[:, 19:23], out[:, 24:36] = text[:, 16:20], text[:, 20:32]
    out[:, 14] = ord("5")  # the version digit
    out[:, 19] = _VARIANT[text[:, 16]]
    positions = np.arange(0, 36 * (count + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(positions), pa.py_buffer(out))


def uuid5_array(names: pa.Array | pa.ChunkedArray, *, distinct: bool = False) -> pa.Array:
    """``uuid5(NAMESPACE_DNS, name)`` for every non-null name (nulls stay null).

    ``distinct=True`` says the names are (nearly) all different, so hashing each beats finding the repeats first.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    binary = names.cast(pa.binary())
    if distinct and binary.null_count == 0:
        return _hash_all(binary)
    encoded = pc.dictionary_encode(binary)
    return pc.take(_hash_all(encoded.dictionary), encoded.indices)


def float_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each float as Python's ``str(float)`` prints it (``100.0``, ``219.17``, ``1e+16``), computed per distinct value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    texts = pa.array([None if v is None else str(float(v)) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(texts, encoded.indices)


def payer_uuid(payer_name: str, parent_org: str = "") -> str:
    return uuid5_text(f"payer:{payer_name}:{parent_org}")


def organization_uuid(tin: str, org_name: str = "") -> str:
    return uuid5_text(f"org:{tin}:{org_name}")


def file_id(payer_name: str, url: str) -> str:
    return uuid5_text(f"file:{payer_name}:{url.split('?', 1)[0]}")


def provider_group_uuid(tin_type: str, tin_value: str, npis: list[str]) -> str:
    return uuid5_text(f"provider_group:{tin_type}:{tin_value}:{','.join(sorted(npis))}")


def rate_uuids(
    payer: str, organizations: pa.Array, codes: pa.Array, rates: pa.Array, expirations: pa.Array
) -> pa.Array:
    """The original's rate id for every row (see the module docstring for the recipe)."""
    names = pc.binary_join_element_wise(
        pa.scalar("rate"),
        pa.scalar(payer),
        pc.fill_null(organizations, ""),
        pc.fill_null(codes, ""),
        pc.fill_null(float_text(rates), ""),
        pc.fill_null(expirations, ""),
        ":",
    )
    return uuid5_array(names, distinct=True)
