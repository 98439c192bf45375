"""Where a run's steps execute: the executor of every job, chosen in one place.

``ANALYTICS_EXECUTOR`` (read when the definitions load):

* ``default`` (or unset): the code location's own choice, ``orchestration.executor()``
  (in-process: the jobs' steps are small).
* ``in_process``: every step in the run's own process.
* ``multiprocess``: one process per step on the run's machine.
* ``celery``: every step is a task on the Celery broker (``ANALYTICS_CELERY_BROKER_URL``),
  executed by whichever ``dagster-celery`` worker takes it, on any machine that has the code
  and the same ``ANALYTICS_*`` environment (``deploy/celery.yaml`` configures the workers with
  the same broker). Results come back over the broker (``rpc://``), so nothing else is needed.

The production topology (``deploy/``, docs/deployment.md) sets ``celery``.
"""

from __future__ import annotations

import os

import dagster as dg

from analytics_pipeline import orchestration, settings

EXECUTORS = ("default", "in_process", "multiprocess", "celery")


class ExecutorChoiceError(ValueError):
    """``ANALYTICS_EXECUTOR`` names no executor this code location knows."""


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor ``ANALYTICS_EXECUTOR`` asks for (``default``: ``orchestration.executor()``)."""
    choice = settings.executor()
    if choice not in EXECUTORS:
        raise ExecutorChoiceError(
            f"ANALYTICS_EXECUTOR={choice!r}: expected one of {', '.join(EXECUTORS)}")
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice == "celery":
        return celery_executor()
    return orchestration.executor()


def celery_executor() -> dg.ExecutorDefinition:
    """The dagster-celery executor on ``ANALYTICS_CELERY_BROKER_URL``. The broker URL reaches
    the run as an environment reference, so its credentials never enter the run's config."""
    try:
        from dagster_celery import celery_executor as dagster_celery_executor
    except ImportError as exc:  # the optional "deploy" extra is not installed
        raise ExecutorChoiceError(
            "ANALYTICS_EXECUTOR=celery needs dagster-celery: pip install 'analytics_pipeline[deploy]'"
        ) from exc
    broker = ({"env": "ANALYTICS_CELERY_BROKER_URL"} if os.environ.get("ANALYTICS_CELERY_BROKER_URL")
              else settings.celery_broker_url())
    return dagster_celery_executor.configured(
        {
            "broker": broker,
            "backend": "rpc://",
            # One step at a time per worker process: steps are database-bound, and a worker that
            # prefetched a second step would hold it while another worker sits idle.
            "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
        },
        name="celery_executor",
    )
