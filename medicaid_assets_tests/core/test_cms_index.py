"""Auto-discovery of the fee-schedule zip on the CMS index page: the original's scoring, links resolved."""

from pathlib import Path

import pytest

from medicaid_assets.core.cms_index import pick_zip_url, score, zip_hrefs
from medicaid_assets.sample_world.cpt_archives import CPT_INDEX_URL, CPT_ZIP_URL
from medicaid_assets.sample_world.urls import disk_path

PAGE = "https://www.cms.gov/medicare/payment/fee-schedules/physician/national-payment-amount-file/pfrev26a"


def test_the_world_index_page_yields_the_updated_pfrev_zip(world_dir: Path) -> None:
    html = (world_dir / "files" / disk_path(CPT_INDEX_URL)).read_text()
    assert zip_hrefs(html) == [
        "/files/zip/pfrev26a.zip",
        "/files/zip/rvu26a-updated-01-09-2026.zip",
        "/files/zip/pfrev26a-updated-01-09-2026.zip",
    ]
    assert pick_zip_url(html, CPT_INDEX_URL) == CPT_ZIP_URL


@pytest.mark.parametrize(
    ("href", "points"),
    [
        ("/files/zip/pfrev26a-updated-01-09-2026.zip", 13),
        ("/files/zip/pfrev26a.zip", 11),
        ("/files/zip/rvu26a-updated-01-09-2026.zip", 3),
        ("https://example.org/PFREV26A.ZIP", 10),
        ("other.zip", 0),
    ],
)
def test_score(href: str, points: int) -> None:
    assert score(href) == points


@pytest.mark.parametrize(
    ("href", "resolved"),
    [
        ("/files/zip/pfrev26a.zip", "https://www.cms.gov/files/zip/pfrev26a.zip"),
        (
            "pfrev26a.zip",
            "https://www.cms.gov/medicare/payment/fee-schedules/physician/national-payment-amount-file/pfrev26a.zip",
        ),
        ("../pfrev26a.zip", "https://www.cms.gov/medicare/payment/fee-schedules/physician/pfrev26a.zip"),
        ("https://downloads.cms.gov/x/pfrev26a.zip", "https://downloads.cms.gov/x/pfrev26a.zip"),
        ("/files/zip/pfrev26a.zip?download=1&amp;v=2", "https://www.cms.gov/files/zip/pfrev26a.zip?download=1&v=2"),
    ],
)
def test_links_resolve_against_the_page(href: str, resolved: str) -> None:
    assert pick_zip_url(f'<p><a class="x" href="{href}">zip</a></p>', PAGE) == resolved


def test_ties_go_to_the_first_link_and_non_zips_are_ignored() -> None:
    html = (
        '<a href="/files/document/pfrev26a-readme.pdf">readme</a>'
        '<a href="/files/zip/pfrev26a-updated-a.zip">A</a>'
        '<a href="/files/zip/pfrev26a-updated-b.zip">B</a>'
        '<a name="anchor">no href</a>'
    )
    assert pick_zip_url(html, PAGE) == "https://www.cms.gov/files/zip/pfrev26a-updated-a.zip"


def test_a_page_without_zip_links_yields_none() -> None:
    assert pick_zip_url("<html><body><a href='/files/document/x.pdf'>pdf</a></body></html>", PAGE) is None
    assert pick_zip_url("", PAGE) is None
