"""The analytics_pipeline code location: each stage's ``definitions.defs`` (in the order the data
flows), merged, with the shared resources applied once."""

import importlib
import warnings

import dagster as dg

from analytics_pipeline.deploy import executor_from_env
from analytics_pipeline.resources import default_resources

# BackfillPolicy and a few other APIs we rely on are marked beta; say so once, not per asset.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

STAGES = ["ingestion", "sessions", "stats", "cache", "reports", "retention", "alerts"]
STAGES += ["metrics"]  # custom metrics beside stats: metric_definitions/ files


def _stage_defs(stage: str) -> dg.Definitions | None:
    module_name = f"analytics_pipeline.{stage}.definitions"
    try:
        return importlib.import_module(module_name).defs
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # stage not built yet; test_definitions asserts the full set
        raise


def build_defs() -> dg.Definitions:
    """The code location with resources configured from the environment as it is now. Commands
    that run jobs in-process call this, so they never use configuration captured at import."""
    return dg.Definitions.merge(
        *(d for d in map(_stage_defs, STAGES) if d is not None),
        dg.Definitions(resources=default_resources(), executor=executor_from_env()),
    )


defs = build_defs()
