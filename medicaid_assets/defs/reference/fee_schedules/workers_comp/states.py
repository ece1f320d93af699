"""Every state handler, imported so that it registers itself: the one list of supported states."""

from medicaid_assets.defs.reference.fee_schedules.workers_comp import georgia, north_carolina
from medicaid_assets.defs.reference.fee_schedules.workers_comp.california import MULTIPLIER_RULES
from medicaid_assets.defs.reference.fee_schedules.workers_comp.handlers import HANDLERS

TABLE_STATES = (georgia.STATE, north_carolina.STATE)  # states publishing their own code tables
assert set(TABLE_STATES) == set(HANDLERS), "a state module was added without listing it here"
MULTIPLIER_STATES = tuple(sorted(MULTIPLIER_RULES))
