"""The former freshness files, now :class:`medicaid_assets.core.stamps.FileStamp` (the one stamp API).

Kept only as names for callers not moved yet (``defs/reference/resolution/lookups.py``); new code uses
:mod:`medicaid_assets.core.stamps`.
"""

from medicaid_assets.core.stamps import FileStamp as Freshness
from medicaid_assets.core.stamps import file_identity as file_state

__all__ = ["Freshness", "file_state"]
