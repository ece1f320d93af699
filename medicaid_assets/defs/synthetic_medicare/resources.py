"""Where the family's three downloads come from (the real data.cms.gov URLs unless configured)."""

from __future__ import annotations

import dagster as dg


class SyntheticMedicareSourcesResource(dg.ConfigurableResource):
    """The release's downloads: the beneficiary-years zip, the FFS claims zip and the PDE file."""

    beneficiary_url: str
    claims_url: str
    pde_url: str

    @property
    def urls(self) -> tuple[str, str, str]:
        return (self.beneficiary_url, self.claims_url, self.pde_url)
