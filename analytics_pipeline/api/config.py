"""The serving API's configuration, read from the environment in one place.

| variable | default | meaning |
|---|---|---|
| ``ANALYTICS_API_KEYS_FILE`` | ``$ANALYTICS_DATA_DIR/api_keys.yaml`` | YAML ``keys:`` list (see :mod:`.security`) |
| ``ANALYTICS_API_KEYS`` | unset | extra keys inline: ``key=site-a,site-b;other=*`` |
| ``ANALYTICS_API_CORS_ORIGINS`` | unset | comma-separated origins allowed by CORS (``*`` for any) |
| ``ANALYTICS_API_RATE_LIMIT`` | ``600`` | requests a minute per key when its entry sets none |
| ``ANALYTICS_API_MAX_BODY_BYTES`` | ``1048576`` | larger request bodies get 413 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from analytics_pipeline import settings


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


@dataclass(frozen=True)
class ApiConfig:
    keys_file: Path
    inline_keys: str = ""
    cors_origins: tuple[str, ...] = ()
    rate_limit_per_minute: int = 600
    max_body_bytes: int = 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "ApiConfig":
        origins = tuple(o.strip() for o in _env("ANALYTICS_API_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            keys_file=Path(_env("ANALYTICS_API_KEYS_FILE", str(settings.data_dir() / "api_keys.yaml"))).absolute(),
            inline_keys=_env("ANALYTICS_API_KEYS", ""),
            cors_origins=origins,
            rate_limit_per_minute=int(_env("ANALYTICS_API_RATE_LIMIT", "600")),
            max_body_bytes=int(_env("ANALYTICS_API_MAX_BODY_BYTES", str(1024 * 1024))),
        )
