"""What the YAML configuration loaders (report templates, alert rules) share: the problem
record that names a file, a field and what is wrong, and reading a YAML file with the
position of a syntax error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class FileProblem:
    """One problem in one configuration file; the file is skipped, the code location loads."""

    file: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.problem}"


class YamlFileError(Exception):
    """A file that is not readable YAML; ``line``/``column`` are 1-based when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None, unreadable: bool = False):
        super().__init__(problem)
        self.problem, self.line, self.column, self.unreadable = problem, line, column, unreadable


# libyaml's parser when PyYAML has it (every code location load reads the templates, rules and
# metric files: the pure-Python parser took ~25 ms of each run worker's start). Same constructor,
# so the same values; a file it refuses is parsed again by the pure-Python parser, whose
# messages and positions the problems report (and which decides, as before, what is valid).
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def read_yaml(path: Path) -> Any:
    """The parsed content of ``path``; raises :class:`YamlFileError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(str(exc), unreadable=True) from None
    if _FAST_LOADER is not None:
        try:
            return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise YamlFileError(problem) from None
        raise YamlFileError(problem, mark.line + 1, mark.column + 1) from None
