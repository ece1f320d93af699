import warnings

# ``backfill_policy`` is beta in Dagster 1.13; the families use it on purpose (time windows that load in one pass,
# docs/conventions.md), so its warning is noise before every command and in every code-location load.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")
