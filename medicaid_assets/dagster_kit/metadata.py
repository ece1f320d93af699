"""Metadata every asset carries: row count, column schema, a markdown preview, provenance."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

OWNERS = ["team:data-platform"]


def column_schema(columns: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns.items()])


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], limit: int = 10) -> str:
    """A small markdown table (values trimmed) for the UI's preview."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    return "\n".join(lines)


def table_metadata(
    rows: int, columns: dict[str, str], preview_columns: Sequence[str], preview_rows: Sequence[Sequence[object]]
) -> dict[str, object]:
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(columns),
        "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview_rows)),
    }
