"""The JSON shapes of Transparency-in-Coverage files (v1 and v2) as msgspec structs.

Typed decoding skips every field not named here at C speed. Provider-group ids are decoded as ``msgspec.Raw``
(the source's exact token): CareFirst's ``690.64470`` must not become the float ``690.6447``. NPIs and TINs come
as numbers or strings; codes sometimes as numbers.

Every struct is ``gc=False`` and the arrays of an item decode to tuples: a file's millions of prices then never
enter the cyclic garbage collector's generations (decoded JSON holds no cycles), which otherwise rescans them.
"""

from __future__ import annotations

import msgspec


class Tin(msgspec.Struct, gc=False):
    type: str | None = None
    value: str | int | None = None


class NestedProvider(msgspec.Struct, gc=False):
    npi: int | str | None = None


class ProviderGroup(msgspec.Struct, gc=False):
    npi: list[int | str] | int | str | None = None
    tin: Tin | None = None
    providers: list[NestedProvider] | None = None  # a payer quirk, read by the "nested_providers" handler


class ProviderReference(msgspec.Struct, gc=False):
    provider_group_id: msgspec.Raw = msgspec.Raw(b"null")
    provider_groups: list[ProviderGroup] | None = None
    location: str | None = None


class RemoteReference(msgspec.Struct, gc=False):
    """A remote provider-reference file (v1): ``{"provider_groups": [...]}``."""

    provider_groups: list[ProviderGroup] | None = None


class Price(msgspec.Struct, gc=False):
    negotiated_type: str | None = None
    negotiated_rate: float | str | None = None
    expiration_date: str | None = None
    service_code: tuple[str, ...] | None = None
    billing_class: str | None = None
    setting: str | None = None
    billing_code_modifier: tuple[str, ...] | None = None
    additional_information: str | None = None


# Decoded once per distinct list (``rate_spans.py`` finds the lists and which are the same): payers repeat the same
# prices and references for many negotiated rates (the real CareFirst file: 122,310 rates, 2,727 distinct price
# lists), and Python objects per rate were the largest cost.
PRICES = msgspec.json.Decoder(tuple[Price, ...] | None)
REFERENCE_IDS = msgspec.json.Decoder(tuple[msgspec.Raw, ...] | None)  # each id as its exact token
GROUPS = msgspec.json.Decoder(tuple[ProviderGroup, ...] | None)  # a rate's inline provider groups


class Item(msgspec.Struct, gc=False):
    """An in_network item's own fields; its ``negotiated_rates`` are walked by ``rate_spans.py``."""

    negotiation_arrangement: str | None = None
    name: str | None = None
    billing_code_type: str | None = None
    billing_code_type_version: str | int | None = None
    billing_code: str | int | None = None
    description: str | None = None


class TocFile(msgspec.Struct, gc=False):
    location: str | None = None
    description: str | None = None


class TocPlan(msgspec.Struct, gc=False):
    plan_name: str | None = None
    plan_id_type: str | None = None
    plan_id: str | int | None = None
    plan_market_type: str | None = None


class TocStructure(msgspec.Struct, gc=False):
    reporting_plans: list[TocPlan] | None = None
    in_network_files: list[TocFile] | None = None
    allowed_amount_file: TocFile | None = None


class TableOfContents(msgspec.Struct, gc=False):
    reporting_entity_name: str | None = None
    reporting_entity_type: str | None = None
    reporting_structure: list[TocStructure] | None = None
    last_updated_on: str | None = None
    version: str | None = None
