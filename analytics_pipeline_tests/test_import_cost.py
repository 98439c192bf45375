"""Every run a schedule or sensor launches starts a fresh process that imports the code location
(analytics_pipeline.definitions) before it does any work. Libraries only some runs use are
imported where they are used, so the others do not pay for them: reportlab and openpyxl (report
rendering), redis (a Redis cache), grpc (asking a code server about a run), psycopg (a
PostgreSQL warehouse)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAZY = ["reportlab", "openpyxl", "redis", "grpc", "psycopg"]


def modules_after(statement: str) -> set[str]:
    """The top-level packages of ``LAZY`` that a fresh interpreter has imported after ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1])) & set(LAZY)


def test_loading_the_code_location_imports_none_of_the_lazy_libraries() -> None:
    loaded = modules_after("import analytics_pipeline.definitions")
    assert not loaded, f"importing the code location imports {sorted(loaded)}; import them where they are used"


@pytest.mark.parametrize(("statement", "library"), [
    # (None is no report: the renderer imports its library, then fails on the data)
    ("from analytics_pipeline.reports.generate import RENDERERS\ntry: RENDERERS['pdf'](None)\nexcept Exception: pass",
     "reportlab"),
    ("from analytics_pipeline.reports.generate import RENDERERS\ntry: RENDERERS['xlsx'](None)\nexcept Exception: pass",
     "openpyxl"),
    ("from analytics_pipeline.cache.backends import RedisCache; RedisCache('redis://127.0.0.1:1/0')", "redis"),
    ("from analytics_pipeline.run_launcher import CodeServer; CodeServer('localhost', 1, None).client()", "grpc"),
    ("from analytics_pipeline.warehouse import Warehouse\ntry: Warehouse('postgresql+psycopg://postgres@127.0.0.1:1/x')\n"
     "except Exception: pass", "psycopg"),
])
def test_the_lazy_libraries_are_still_imported_where_they_are_used(statement: str, library: str) -> None:
    """The check above can fail: the same probe sees a library once the code that needs it runs."""
    assert modules_after(statement) == {library}
