"""The Hugging Face dataset card (``README.md``) of the published repo: YAML front matter with three configs.

The Hub reads ``configs`` from the front matter: each ``config_name`` (``spending``, ``npi``, ``hcpcs``) names
the parquet file(s) it loads, so ``load_dataset(repo, "npi")`` and the dataset viewer find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

CONFIG_ORDER = ("spending", "npi", "hcpcs")
CONFIG_DESCRIPTIONS = {
    "spending": "HHS Medicaid Provider Spending rows (billing/servicing NPI, HCPCS code, month, beneficiaries, "
    "claims, paid), as published by HHS.",
    "npi": "One row per NPI of the spending file: NPPES provider record (bulk files first, then the NPI Registry "
    "API), API-shaped JSON strings, or why it could not be resolved.",
    "hcpcs": "One row per HCPCS_CODE value of the spending file: Clinical Tables HCPCS answer, or the CMS fee-schedule "
    "fallback for CPT codes, or why it could not be resolved.",
}


@dataclass(frozen=True)
class CardFile:
    path_in_repo: str
    size: int
    sha256: str
    rows: int | None = None
    config: str | None = None  # spending | npi | hcpcs for the files a config loads


def front_matter(configs: dict[str, str], pretty_name: str) -> dict:
    entries = []
    for name in CONFIG_ORDER:
        if name in configs:
            entry: dict = {"config_name": name, "data_files": [{"split": "train", "path": configs[name]}]}
            if not entries:
                entry["default"] = True
            entries.append(entry)
    return {
        "pretty_name": pretty_name,
        "license": "other",
        "language": ["en"],
        "tags": ["healthcare", "medicaid", "npi", "hcpcs", "nppes"],
        "configs": entries,
    }


def dataset_card(
    repo_id: str,
    files: Sequence[CardFile],
    configs: dict[str, str],
    generated_at: str,
    pretty_name: str = "Medicaid Provider Spending with resolved providers and codes",
) -> str:
    """The whole ``README.md``: front matter, then what each config holds, the files, and how to load them."""
    header = yaml.safe_dump(front_matter(configs, pretty_name), sort_keys=False, allow_unicode=True)
    lines = [f"---\n{header}---", "", f"# {pretty_name}", ""]
    lines += [
        "Built by the `medicaid-assets` Dagster code location from public sources: the HHS Medicaid Provider "
        "Spending file, the CMS NPPES registry (bulk files and NPI Registry API) and the CPT/HCPCS code sets "
        "(NLM Clinical Tables, CMS fee-schedule files).",
        "",
        "## Configs",
        "",
        "| config | file | what |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{name}` | `{configs[name]}` | {CONFIG_DESCRIPTIONS[name]} |" for name in CONFIG_ORDER if name in configs
    ]
    lines += ["", "## Files", "", "| path | rows | bytes | sha256 |", "|---|---:|---:|---|"]
    for f in files:
        rows = f"{f.rows:,}" if f.rows is not None else ""
        lines.append(f"| `{f.path_in_repo}` | {rows} | {f.size:,} | `{f.sha256}` |")
    lines += ["", "## Load", "", "```python", "from datasets import load_dataset", ""]
    lines += [
        f'{name} = load_dataset("{repo_id}", "{name}", split="train")' for name in CONFIG_ORDER if name in configs
    ]
    lines += [
        "```",
        "",
        "Nested values in `npi` and `hcpcs` (addresses, taxonomies, API answers) are JSON strings. The mapping CSVs "
        "(`npi_provider_mapping.csv`, `hcpcs_code_mapping.csv`) are flat lookups of the same results.",
        "",
        f"Generated {generated_at}.",
        "",
    ]
    return "\n".join(lines)


def parse_front_matter(card: str) -> dict:
    """The YAML front matter of a card (for checks and tests)."""
    if not card.startswith("---\n"):
        return {}
    end = card.index("\n---", 4)
    return yaml.safe_load(card[4:end]) or {}
