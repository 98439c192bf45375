"""An in-process app with the intake writing to this test's landing directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analytics_pipeline.api.app import create_app
from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.intake.config import IntakeConfig


@pytest.fixture
def intake_client(tmp_path: Path, landing_dir: Path) -> Callable[..., AbstractContextManager[TestClient]]:
    """``with intake_client(keys_yaml=..., inline=..., rate=..., max_body=...) as client:``"""

    @contextmanager
    def make(keys_yaml: str = "", inline: str = "", rate: int = 100_000, max_body: int = 1 << 20,
             cors: tuple[str, ...] = (), max_batch: int = 10_000) -> Iterator[TestClient]:
        keys_file = tmp_path / "api_keys.yaml"
        if keys_yaml:
            keys_file.write_text(keys_yaml)
        app = create_app(ApiConfig(keys_file=keys_file, inline_keys=inline, rate_limit_per_minute=rate,
                                   max_body_bytes=max_body, cors_origins=cors))
        app.state.intake_config = IntakeConfig(landing_dir=landing_dir, max_batch_events=max_batch)
        with TestClient(app) as client:
            yield client

    return make
