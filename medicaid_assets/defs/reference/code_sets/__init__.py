"""Code sets: CMS CPT/HCPCS archives and the CPT/HCPCS fallback built from them."""
