import base64
import struct
from datetime import date

import dagster as dg
import pytest

from medicaid_assets.dagster_kit.charts import (
    DPI,
    WIDTH_INCHES,
    _money,
    category_counts_png,
    image_metadata,
    monthly_totals_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always comes first."""
    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])


def test_monthly_totals_is_a_png_of_the_page_width() -> None:
    totals = {date(2018 + i // 12, i % 12 + 1, 1): 1e9 + i * 1e7 for i in range(84)}
    width, height = png_size(monthly_totals_png(totals, "Total paid per month"))
    assert width == int(WIDTH_INCHES * DPI)
    assert 200 <= height <= 400


def test_monthly_totals_draws_one_month_and_no_month() -> None:
    assert png_size(monthly_totals_png({date(2024, 12, 1): 865_284.28}, "one month"))[0] == int(WIDTH_INCHES * DPI)
    assert png_size(monthly_totals_png({}, "empty"))[0] == int(WIDTH_INCHES * DPI)


def test_category_counts_grows_with_the_categories_shown_and_skips_zeros() -> None:
    few = category_counts_png({"npi": {"ok": 5, "not_found": 1}, "hcpcs": {"ok": 3}}, "statuses")
    zeros = category_counts_png({"npi": {"ok": 5, "not_found": 1, "error": 0}, "hcpcs": {"ok": 3, "x": 0}}, "statuses")
    many = category_counts_png({"hcpcs": {f"kind_{i}": i + 1 for i in range(19)}}, "kinds")
    assert png_size(few) == png_size(zeros)
    assert png_size(many)[1] > png_size(few)[1]


def test_category_counts_draws_empty_groups() -> None:
    assert png_size(category_counts_png({"npi": {"ok": 0}, "hcpcs": {}}, "nothing yet"))[0] == int(WIDTH_INCHES * DPI)


def test_image_metadata_embeds_the_png_as_a_markdown_data_uri() -> None:
    png = category_counts_png({"npi": {"ok": 1}}, "one")
    value = image_metadata(png, "npi statuses")
    assert isinstance(value, dg.MarkdownMetadataValue)
    prefix = "![npi statuses](data:image/png;base64,"
    assert value.md_str.startswith(prefix) and value.md_str.endswith(")")
    assert base64.b64decode(value.md_str[len(prefix) : -1]) == png


@pytest.mark.parametrize(
    ("value", "label"),
    [(0, "$0"), (950, "$950"), (12_500, "$12.5K"), (3_400_000, "$3.4M"), (1.25e11, "$125.0B"), (-2e6, "$-2.0M")],
)
def test_money_axis_labels(value: float, label: str) -> None:
    assert _money(value) == label
