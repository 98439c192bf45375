"""The files of deploy/ that cannot run here (no Docker engine, no Kubernetes cluster) still have
to be right: they parse, Dagster accepts the instance, workspace and Celery configuration, and
every command, module, file and ``ANALYTICS_*`` setting they name exists."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from analytics_pipeline import deploy

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
# Where deploy/Dockerfile puts the repository inside the image.
IMAGE_APP = "/opt/dagster/app/"
INSTANCE_ENV = {"DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
                "DAGSTER_PG_PASSWORD": "secret", "DAGSTER_PG_DB": "dagster"}


def _yaml(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _settings_read_by_the_code() -> set[str]:
    """Every ``ANALYTICS_*`` name the package reads."""
    names: set[str] = set()
    for path in (REPO / "analytics_pipeline").rglob("*.py"):
        names |= set(re.findall(r"ANALYTICS_[A-Z0-9_]+", path.read_text()))
    return names


def test_instance_config_is_valid_and_on_postgres_with_run_monitoring(tmp_path: Path, monkeypatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    postgres = config["storage"]["postgres"]["postgres_db"]
    assert postgres["scheme"] == "postgresql+psycopg2"
    assert postgres["db_name"] == {"env": "DAGSTER_PG_DB"}  # resolved when the instance starts
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_workspace_points_at_the_code_server_over_grpc(monkeypatch) -> None:
    from dagster._core.workspace.config_schema import ensure_workspace_config

    monkeypatch.setenv("ANALYTICS_CODE_SERVER_HOST", "code-server")
    monkeypatch.setenv("ANALYTICS_CODE_SERVER_PORT", "4000")
    workspace = ensure_workspace_config(_yaml("workspace.yaml"), str(DEPLOY / "workspace.yaml"))
    (entry,) = workspace["load_from"]
    assert entry["grpc_server"]["location_name"] == "analytics_pipeline"


def test_celery_worker_config_matches_the_executor(tmp_path: Path, monkeypatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("ANALYTICS_CELERY_BROKER_URL", "pyamqp://analytics:secret@rabbitmq:5672//")
    monkeypatch.setenv("ANALYTICS_EXECUTOR", "celery")
    workers = get_validated_config(str(DEPLOY / "celery.yaml"))
    executor = deploy.executor_from_env()
    assert executor is not None and executor.name == "celery_executor"
    assert workers["broker"] == "pyamqp://analytics:secret@rabbitmq:5672//"
    assert workers["backend"] == "rpc://"
    assert workers["config_source"] == {"worker_prefetch_multiplier": 1, "task_acks_late": True}


@pytest.mark.parametrize("choice", ["default", "in_process", "multiprocess", "celery"])
def test_every_executor_choice_builds_the_code_location(choice: str, monkeypatch) -> None:
    monkeypatch.setenv("ANALYTICS_EXECUTOR", choice)
    from analytics_pipeline.definitions import build_defs

    job = build_defs().resolve_job_def("ingest_job")
    expected = {"default": "in_process", "in_process": "in_process",
                "multiprocess": "multiprocess", "celery": "celery_executor"}[choice]
    assert job.executor_def.name == expected


def test_an_unknown_executor_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.setenv("ANALYTICS_EXECUTOR", "kubernetes")
    with pytest.raises(deploy.ExecutorChoiceError, match="kubernetes"):
        deploy.executor_from_env()


def _command_exists(command: list[str]) -> None:
    """The executable is installed with the project, and what it is pointed at exists."""
    assert (BIN / command[0]).exists(), f"{command[0]} is not installed with the project"
    for flag, value in zip(command, command[1:]):
        if flag in ("-m", "-i", "-A"):
            assert importlib.util.find_spec(value) is not None, f"module {value} does not exist"
        if value.startswith(IMAGE_APP):
            assert (REPO / value.removeprefix(IMAGE_APP)).exists(), f"{value} is not in the repository"
    if command[0] == "analytics-pipeline":
        from analytics_pipeline.cli import build_parser

        subcommands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
        assert command[1] in subcommands, f"analytics-pipeline has no {command[1]} command"


def test_compose_services_run_installed_commands_with_known_settings() -> None:
    compose = _yaml("docker-compose.yml")
    services = compose["services"]
    assert {"postgres", "redis", "rabbitmq", "code-server", "webserver", "daemon", "celery-worker", "api"} <= set(services)
    ours = {name: s for name, s in services.items() if s.get("image") == "analytics-pipeline:latest"}
    assert set(ours) == {"dagster-init", "code-server", "webserver", "daemon", "celery-worker", "api"}
    # Dagster's tables are made once, before any service of ours starts (directly or through
    # the code server): several creating them at once on a new database race.
    assert ours["dagster-init"]["command"] == ["dagster", "instance", "migrate"]
    assert ours["dagster-init"]["restart"] == "no"
    for name, service in ours.items():
        if name == "dagster-init":
            continue
        needs = service["depends_on"]
        assert needs.get("dagster-init") == {"condition": "service_completed_successfully"} or \
            needs.get("code-server") == {"condition": "service_healthy"}, name
    assert ours["code-server"]["depends_on"]["dagster-init"] == {"condition": "service_completed_successfully"}
    for service in ours.values():
        _command_exists(service["command"])
    assert services["celery-worker"]["deploy"]["replicas"] == 2
    assert (REPO / services["code-server"]["build"]["dockerfile"]).exists()

    environment = ours["code-server"]["environment"]
    assert environment["ANALYTICS_EXECUTOR"] in deploy.EXECUTORS
    unknown = {k for k in environment if k.startswith("ANALYTICS_")} - _settings_read_by_the_code() - {
        "ANALYTICS_CODE_SERVER_HOST", "ANALYTICS_CODE_SERVER_PORT"}  # read by deploy/workspace.yaml
    assert not unknown, f"settings nothing reads: {unknown}"
    workspace = (DEPLOY / "workspace.yaml").read_text()
    assert "ANALYTICS_CODE_SERVER_HOST" in workspace and "ANALYTICS_CODE_SERVER_PORT" in workspace
    assert set(INSTANCE_ENV) <= set(environment)
    for mount in services["postgres"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists()
    # Published ports only on the host's loopback: put a proxy with TLS in front for the world.
    for service in services.values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))


def test_helm_values_name_the_code_location_and_the_same_queue_rules() -> None:
    values = _yaml("helm/values.yaml")
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[0] == "-m" and importlib.util.find_spec(args[1]) is not None
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["ANALYTICS_EXECUTOR"] in deploy.EXECUTORS
    assert set(env) <= _settings_read_by_the_code()
    assert values["runLauncher"]["type"] in ("K8sRunLauncher", "CeleryK8sRunLauncher")
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True

    chart_queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    instance_queue = _yaml("dagster.yaml")["run_coordinator"]["config"]
    assert chart_queue["maxConcurrentRuns"] == instance_queue["max_concurrent_runs"]
    assert chart_queue["tagConcurrencyLimits"] == [
        {"key": t["key"], "value": {"applyLimitPerUniqueValue": t["value"]["applyLimitPerUniqueValue"]}, "limit": t["limit"]}
        for t in instance_queue["tag_concurrency_limits"]]
    assert not list(_password_values(values)), "secrets belong in Kubernetes secrets, not in values"


def _password_values(node, path: str = ""):
    """Paths of every ``...password`` key that carries a value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).lower().endswith("password") and value not in (None, ""):
                yield f"{path}.{key}"
            yield from _password_values(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _password_values(item, f"{path}[{i}]")
