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

A uuid5 is SHA-1 over the namespace and the name; hashing runs once per distinct name (dictionary-encoded), and the
version bits and hex formatting are numpy over all of them at once.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NAMESPACE = uuid.NAMESPACE_DNS
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)  # positions of '-' in the 36-character form


def uuid5_text(name: str) -> str:
    """One id: equal to ``str(uuid.uuid5(NAMESPACE_DNS, name))``."""
    return str(uuid.uuid5(NAMESPACE, name))


def _format(digests: bytes, count: int) -> pa.Array:
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(count, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((count, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((count, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = hexed[:, 0:8], hexed[:, 8:12], hexed[:, 12:16]
    out[:, 19:23], out[:, 24:36] = hexed[:, 16:20], hexed[:, 20:32]
    offsets = np.arange(0, 36 * (count + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(out))


def _hash_all(values: list[bytes]) -> pa.Array:
    sha1, namespace = hashlib.sha1, NAMESPACE.bytes
    digests = b"".join([sha1(namespace + value).digest() for value in values])  # one C call per name
    return _format(digests, len(values)) if values else pa.array([], pa.string())


def uuid5_array(names: pa.Array | pa.ChunkedArray, *, distinct: bool = False) -> pa.Array:
    """``uuid5(NAMESPACE_DNS, name)`` for every non-null name (nulls stay null).

    ``distinct=True`` says the names are (nearly) all different, so hashing each beats finding the repeats first.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    binary = names.cast(pa.binary())
    if distinct and binary.null_count == 0:
        return _hash_all(binary.to_pylist())
    encoded = pc.dictionary_encode(binary)
    return pc.take(_hash_all(encoded.dictionary.to_pylist()), encoded.indices)


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
