"""The demo is assembled from one part per family: every module of ``cli/demo_parts`` contributes its ``PART``."""

import pkgutil

from medicaid_assets.cli import demo_parts
from medicaid_assets.cli.demo_parts import DemoPart, parts


def test_every_family_module_is_a_part_of_the_demo_in_order() -> None:
    modules = {m.name for m in pkgutil.iter_modules(demo_parts.__path__)}
    found = parts()
    assert {part.name for part in found} == modules >= {"medicaid_spending"}
    assert [part.order for part in found] == sorted(part.order for part in found)
    for part in found:
        assert isinstance(part, DemoPart) and part.steps and callable(part.generate) and callable(part.summary)
