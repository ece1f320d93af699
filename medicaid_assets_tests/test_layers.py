"""The layering rules of docs/architecture.md, checked on every import statement of the package (function-level
imports included), so a forbidden import fails here before it becomes a habit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "medicaid_assets"
CONFIG = {"medicaid_assets.settings", "medicaid_assets.layout"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``medicaid_assets`` import in ``path``; ``from x import y`` counts ``x.y`` too, so
    importing a submodule by name is seen as the submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "medicaid_assets"]


def family(module: str) -> str | None:
    """``defs.reference.nppes`` for anything under that folder, ``defs.publish`` for publish, None outside defs."""
    parts = module.split(".")
    if parts[:2] != ["medicaid_assets", "defs"] or len(parts) < 3:
        return None
    depth = 4 if parts[2] == "reference" and len(parts) > 3 else 3
    return ".".join(parts[1:depth])


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violation(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported`` (None when it may)."""
    if _under(importer, "medicaid_assets.cli"):
        return None
    if importer == "medicaid_assets.definitions":
        return "the composition root may not import the CLI" if _under(imported, "medicaid_assets.cli") else None
    if importer in CONFIG:
        return "settings and layout are configuration: they import nothing of ours"
    if _under(importer, "medicaid_assets.core"):
        return None if _under(imported, "medicaid_assets.core") else "core is pure: it imports only core"
    allowed = ["medicaid_assets.core", *CONFIG]
    if _under(importer, "medicaid_assets.sample_world"):
        return None if _under(imported, *allowed, "medicaid_assets.sample_world") else "sample_world is below defs"
    allowed.append("medicaid_assets.dagster_kit")
    if _under(importer, "medicaid_assets.dagster_kit"):
        return None if _under(imported, *allowed) else "dagster_kit may import core, settings and layout only"
    mine = family(importer)
    if mine is None:
        return f"{importer} is in no layer of docs/architecture.md"
    theirs = family(imported)
    if _under(imported, *allowed) or theirs == mine or imported == "medicaid_assets.defs":
        return None
    if theirs is not None and (
        imported == f"medicaid_assets.{theirs}.keys" or imported.startswith(f"medicaid_assets.{theirs}.keys.")
    ):
        return None
    return f"a family imports core, dagster_kit and other families' keys.py only (not {imported})"


def _all_imports() -> list[tuple[str, int, str]]:
    rows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        rows += [(importer, line, imported) for line, imported in _imports(path)]
    return rows


def test_every_import_follows_the_layers() -> None:
    broken = [
        f"{importer}:{line} imports {imported}: {why}"
        for importer, line, imported in _all_imports()
        if (why := violation(importer, imported))
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("medicaid_assets.core.download", "medicaid_assets.settings"),
        ("medicaid_assets.core.download", "medicaid_assets.dagster_kit.metadata"),
        ("medicaid_assets.dagster_kit.metadata", "medicaid_assets.defs.reference.nppes.keys"),
        ("medicaid_assets.defs.publish.storage", "medicaid_assets.defs.reference.resolution.npi_cache"),
        ("medicaid_assets.defs.reference.resolution.lookups", "medicaid_assets.defs.reference.code_sets.fallback"),
        ("medicaid_assets.defs.medicaid_spending.assets", "medicaid_assets.cli.runner"),
        ("medicaid_assets.sample_world.world", "medicaid_assets.defs.medicaid_spending.keys"),
        ("medicaid_assets.settings", "medicaid_assets.core.atomic"),
        ("medicaid_assets.definitions", "medicaid_assets.cli.runner"),
    ],
)
def test_the_rule_refuses_what_the_architecture_forbids(importer: str, imported: str) -> None:
    assert violation(importer, imported)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("medicaid_assets.defs.publish.storage", "medicaid_assets.defs.reference.resolution.keys"),
        ("medicaid_assets.defs.reference.resolution.lookups", "medicaid_assets.defs.reference.resolution.npi_cache"),
        ("medicaid_assets.defs.reference.nppes.assets", "medicaid_assets.dagster_kit.metadata"),
        ("medicaid_assets.cli.demo", "medicaid_assets.defs.reference.nppes.sensors"),
    ],
)
def test_the_rule_allows_what_the_architecture_allows(importer: str, imported: str) -> None:
    assert violation(importer, imported) is None
