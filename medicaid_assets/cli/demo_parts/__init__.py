"""What each family adds to ``medicaid-assets demo``: its part of the sample world, its runs, its summary lines.

A family joins the demo by adding one module here that defines ``PART`` (a :class:`DemoPart`); the demo finds it,
and no other family's part changes. Parts run in ``order`` (a family after the reference data it reads), all
against one sample-world server; keep each part's runs small, the whole demo stays under about 3 minutes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from medicaid_assets.cli.runner import Runner
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings


@dataclass(frozen=True)
class DemoPart:
    name: str
    order: int
    generate: Callable[[Path, WorldSpec], object]  # writes the family's files into the world directory
    steps: tuple[tuple[str, Callable[[Runner], object]], ...]  # (what the user is told, the runs it makes)
    summary: Callable[[Runner, Settings, Console], None]  # lines saying what the runs made and where it is


def parts() -> list[DemoPart]:
    """Every module's ``PART`` in this package, in run order."""
    found = [importlib.import_module(f"{__name__}.{module.name}").PART for module in pkgutil.iter_modules(__path__)]
    return sorted(found, key=lambda part: (part.order, part.name))
