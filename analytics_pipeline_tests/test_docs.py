"""The README and docs/ as a newcomer meets them: every link stays inside the repository and
resolves, the words are the project's own, and every runnable command of the README works when
pasted from the repository root after `make demo` (run against a small throwaway demo)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from analytics_pipeline.settings import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
# Pages other parts of the project add; the README lists them already. Until they exist their
# links are allowed to dangle; once a file exists, its links are checked like any other.
LATER_DOCS = {"api.md", "intake.md", "metrics.md", "time-zones.md", "bad-input.md",
              "scheduling-and-recovery.md", "deployment.md", "scale.md"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<(https?://[^>\s]+)>|href=\"([^\"]+)\"")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
BUILD_WORDS = re.compile(r"\b(spec|seed|issue)s?\b", re.IGNORECASE)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def links(path: Path) -> list[str]:
    return [next(g for g in m.groups() if g) for m in LINK.finditer(path.read_text())]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_stays_inside_the_repository_and_resolves(path: Path):
    for target in links(path):
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE), f"{path.name}: {target} leaves the repository"
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        assert resolved == REPO_ROOT or REPO_ROOT in resolved.parents, f"{path.name}: {target} is outside the repository"
        if not resolved.exists():
            assert resolved.name in LATER_DOCS and resolved.parent == REPO_ROOT / "docs", f"{path.name}: {target} is missing"
            continue
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{path.name}: no heading #{fragment} in {resolved.name}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_docs_speak_the_project_s_own_words(path: Path):
    found = [m.group(0) for m in BUILD_WORDS.finditer(path.read_text())]
    assert found == [], f"{path.name} says {found}"


def test_the_readme_starts_with_what_it_is_and_the_three_commands():
    first_screen = "\n".join((REPO_ROOT / "README.md").read_text().splitlines()[:25])
    for command in ("make demo", "make test", "make dev"):
        assert command in first_screen
    assert "data/reports/" in first_screen and "make dev" in first_screen


def runnable_blocks() -> list[str]:
    """The README's ```bash blocks: commands a reader pastes (examples are ```text / ```console)."""
    return [body for lang, body in FENCE.findall((REPO_ROOT / "README.md").read_text()) if lang == "bash"]


def throwaway_checkout(tmp_path: Path) -> Path:
    """A directory that looks like the repository root (every top-level entry linked) but has
    its own data/ and .dagster_home/, so the README's commands run unchanged and touch nothing real."""
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in ("data", ".dagster_home", ".git"):
            (root / entry.name).symlink_to(entry)
    return root


def clean_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "DAGSTER_"))}
    env["PWD"] = str(root)
    return env


@pytest.mark.e2e
def test_every_readme_command_works_after_the_demo(tmp_path: Path):
    blocks = runnable_blocks()
    assert len(blocks) >= 6
    root = throwaway_checkout(tmp_path)
    env = clean_env(root)
    demo = subprocess.run([str(root / ".venv/bin/analytics-pipeline"), "demo", "--days", "9",
                           "--events-per-day", "150", "--websites", "2"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for block in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README block failed:\n{block}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # the headless backfill was recorded where the UI (make dev, DAGSTER_HOME=./.dagster_home) looks
    import dagster as dg

    with dg.DagsterInstance.from_config(str(root / ".dagster_home")) as instance:
        runs = instance.get_runs()
        assert any("dagster/asset_partition_range_start" in r.tags and r.job_name == "__ASSET_JOB" for r in runs)
    exports = list((root / "data" / "reports" / "exports").iterdir())
    assert {p.suffix for p in exports} == {".xlsx", ".gz"}
    assert not (REPO_ROOT / "data" / "reports" / "exports").exists() or all(
        p.stat().st_mtime < tmp_path.stat().st_mtime for p in (REPO_ROOT / "data" / "reports" / "exports").iterdir())
