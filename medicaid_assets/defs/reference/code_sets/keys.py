"""What other families may use of the code sets: asset keys and the CPT/HCPCS record's fields."""

import dagster as dg

GROUP = "code_sets"
ARCHIVES = dg.AssetKey(["raw", "cpt_archives"])
FALLBACK = dg.AssetKey(["raw", "cpt_hcpcs_fallback"])
# NUCC provider taxonomy: one row per taxonomy code (columns in taxonomy_parse.SCHEMA), stored by the IO manager.
TAXONOMY = dg.AssetKey(["code_sets", "nucc_taxonomy"])

# The fields of one CPT/HCPCS code record, in the order the fallback CSV and the HCPCS cache both keep them.
RECORD_FIELDS = ("short_desc", "long_desc", "add_dt", "act_eff_dt", "term_dt", "obsolete", "is_noc")
