"""Sensors that launch nothing say why, instead of "Sensor function returned an empty result"."""

import dagster as dg

from analytics_pipeline.definitions import defs


def test_the_failure_alert_sensor_says_no_run_failed(instance):
    sensor = defs.get_repository_def().get_sensor_def("job_failure_alert_sensor")
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert first.cursor  # the first tick only sets its cursor

    idle = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))

    assert not idle.run_requests
    assert idle.skip_message == "no run of this code location failed since the last tick"


def test_no_sensor_of_the_code_location_returns_an_empty_result_when_idle(instance, resources):
    # the sensors that need no data to evaluate; every one must explain an idle tick
    repo = defs.get_repository_def()
    for name in ("cache_refresh_sensor", "late_data_sensor", "landing_sensor"):
        sensor = repo.get_sensor_def(name)
        with dg.build_sensor_context(instance=instance, resources=resources, repository_def=repo) as context:
            data = sensor.evaluate_tick(context)
        if not data.run_requests:
            assert data.skip_message and "empty result" not in data.skip_message, name
