"""What other families may use of identifier resolution: asset keys and groups. Nothing else is public."""

import dagster as dg

GROUP = "resolution"  # identifier sets and the NPI/HCPCS caches
OUTPUTS_GROUP = "resolved_outputs"  # the original tool's outputs

DATASET_NPIS = dg.AssetKey(["resolution", "dataset_npis"])
DATASET_CODES = dg.AssetKey(["resolution", "dataset_codes"])
NPI_BULK_ROWS = dg.AssetKey(["resolution", "npi_bulk_rows"])
NPI_CACHE = dg.AssetKey(["resolution", "npi_cache"])
HCPCS_CACHE = dg.AssetKey(["resolution", "hcpcs_cache"])

NPI_MAPPING = dg.AssetKey(["outputs", "npi_provider_mapping"])
HCPCS_MAPPING = dg.AssetKey(["outputs", "hcpcs_code_mapping"])
NPI_DATASET = dg.AssetKey(["outputs", "npi_dataset"])
HCPCS_DATASET = dg.AssetKey(["outputs", "hcpcs_dataset"])
UNRESOLVED = dg.AssetKey(["outputs", "unresolved_identifiers"])
TRIAGE = dg.AssetKey(["outputs", "triage"])
OUTPUTS = (NPI_MAPPING, HCPCS_MAPPING, NPI_DATASET, HCPCS_DATASET, UNRESOLVED, TRIAGE)
