"""The Hugging Face Hub dataset repo the ``publish`` job uploads to (opt-in).

The token is a secret: definitions pass it as ``dg.EnvVar("HF_TOKEN")``, so run config and the UI show the
variable's name, never its value; it is left out of this resource's repr, and ``scrub`` removes it from any error
text before that text reaches Dagster's event log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from medicaid_assets.settings import DEFAULT_HF_ENDPOINT

if TYPE_CHECKING:
    from huggingface_hub import HfApi

MASK = "***"


class HuggingFaceResource(dg.ConfigurableResource):
    """``HfApi(endpoint=…, token=…)`` for one dataset repo (``MEDICAID_HF_REPO_ID``, ``MEDICAID_HF_ENDPOINT``)."""

    endpoint: str = Field(default=DEFAULT_HF_ENDPOINT, description="Hub URL (a mirror or test server works too)")
    repo_id: str | None = Field(default=None, description="owner/name of the dataset repo")
    repo_type: str = Field(default="dataset", description="dataset (the original's --hf-repo-type default)")
    private: bool = Field(default=False, description="create the repo private when it does not exist yet")
    token: str | None = Field(
        default=None, repr=False, description="write token; set HF_TOKEN (passed as an EnvVar, never shown)"
    )

    def api(self) -> HfApi:
        from huggingface_hub import HfApi  # imported on use: loading the code location stays fast

        return HfApi(endpoint=self.endpoint.rstrip("/"), token=self.token or None, library_name="medicaid-assets")

    def scrub(self, text: str) -> str:
        """``text`` with the token replaced by ``***``."""
        return text.replace(self.token, MASK) if self.token else text
