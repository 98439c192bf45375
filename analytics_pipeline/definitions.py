"""The analytics_pipeline code location: each stage's ``definitions.defs`` (in the order the data
flows), merged, with the shared resources applied once."""

import copy
import importlib
import warnings

import dagster as dg

from analytics_pipeline import settings
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


def _stopped(definition):
    """A copy of a schedule or sensor that starts stopped. Dagster has no public way to change the
    default status of a built definition (sensor subclasses included), so the copy sets it."""
    stopped = copy.copy(definition)
    is_schedule = isinstance(definition, dg.ScheduleDefinition)
    stopped._default_status = dg.DefaultScheduleStatus.STOPPED if is_schedule else dg.DefaultSensorStatus.STOPPED
    return stopped


def apply_auto_sync_policy(defs: dg.Definitions, disabled: bool) -> dg.Definitions:
    """``DISABLE_AUTO_SYNC=true``: every schedule and sensor of the code location starts stopped."""
    if not disabled:
        return defs
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=defs.resources,
        loggers=defs.loggers, executor=defs.executor, metadata=defs.metadata,
        schedules=[_stopped(s) for s in defs.schedules or []],
        sensors=[_stopped(s) for s in defs.sensors or []],
    )


def build_defs() -> dg.Definitions:
    """The code location with resources configured from the environment as it is now. Commands
    that run jobs in-process call this, so they never use configuration captured at import."""
    merged = dg.Definitions.merge(
        *(d for d in map(_stage_defs, STAGES) if d is not None),
        dg.Definitions(resources=default_resources(), executor=executor_from_env()),
    )
    return apply_auto_sync_policy(merged, settings.disable_auto_sync())


defs = build_defs()
