"""Per-payer handlers for layout quirks, registered by name (the payer catalog names one per payer).

A handler sees each decoded provider group and item before they are normalized. The standard layout needs none;
quirks get a small subclass registered with ``@register_handler("name")``.
"""

from __future__ import annotations

from collections.abc import Callable

from medicaid_assets.defs.price_transparency.model import Item, ProviderGroup


class PayerHandler:
    """The standard layout: NPIs in ``provider_groups[].npi``, items as the schema writes them."""

    name = "standard"

    def group_npis(self, group: ProviderGroup) -> list[str]:
        npi = group.npi
        if npi is None:
            return []
        if isinstance(npi, list):
            return [str(v) for v in npi]
        return [str(npi)]

    def item(self, item: Item) -> Item:
        return item


_HANDLERS: dict[str, PayerHandler] = {}


def register_handler(name: str) -> Callable[[type[PayerHandler]], type[PayerHandler]]:
    """Class decorator: make the handler available to the payer catalog as ``name``."""

    def register(cls: type[PayerHandler]) -> type[PayerHandler]:
        if name in _HANDLERS:
            raise ValueError(f"a payer handler named {name!r} is already registered")
        cls.name = name
        _HANDLERS[name] = cls()
        return cls

    return register


def get_handler(name: str) -> PayerHandler:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise KeyError(f"no payer handler {name!r}; registered: {sorted(_HANDLERS)}") from None


def handler_names() -> list[str]:
    return sorted(_HANDLERS)


register_handler("standard")(PayerHandler)


@register_handler("nested_providers")
class NestedProvidersHandler(PayerHandler):
    """Groups that list ``providers: [{"npi": …}]`` instead of ``npi: […]`` (both read, the union kept)."""

    def group_npis(self, group: ProviderGroup) -> list[str]:
        npis = super().group_npis(group)
        for provider in group.providers or ():
            if provider.npi is not None and str(provider.npi) not in npis:
                npis.append(str(provider.npi))
        return npis
