"""Metadata every asset carries: row count, column schema, a markdown preview, provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

OWNERS = ["team:data-platform"]


def column_schema(columns: dict[str, str], descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The columns and their types, each with its description when ``descriptions`` has it (by name, or by the
    name in upper case: a source may spell a column in lower case)."""
    described = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type_, description=described.get(name) or described.get(name.upper()))
            for name, type_ in columns.items()
        ]
    )


def money(value: float | None) -> dg.MetadataValue:
    """An amount of dollars as the UI should show it: cents, not binary-float noise (129528940.93)."""
    return dg.MetadataValue.float(round(float(value or 0.0), 2))


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], limit: int = 10) -> str:
    """A small markdown table (values trimmed) for the UI's preview."""

    def cell(value: object) -> str:
        text = "" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    return "\n".join(lines)


def table_metadata(
    rows: int,
    columns: dict[str, str],
    preview_columns: Sequence[str],
    preview_rows: Sequence[Sequence[object]],
    descriptions: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Row count, column schema (with ``descriptions``) and a preview of the first rows: what every table shows."""
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(columns, descriptions),
        "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview_rows)),
    }
