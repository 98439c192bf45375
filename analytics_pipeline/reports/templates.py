"""Report templates: YAML files in the templates directory, loaded and validated.

A template file describes one report (its id, schedule, formats, recipients, active flag) and
its content (metrics, sections, top-list length, and the Jinja2 text parts). A file that does
not validate becomes a :class:`TemplateProblem` naming the file, the field and what is wrong;
it never stops the other templates from loading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from analytics_pipeline.config_files import FileProblem, YamlFileError, read_yaml

SCHEDULE_GRAIN = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter"}
# 09:00 UTC: daily; Monday; the 1st of the month; the 1st of the quarter (seed).
SCHEDULE_CRON = {
    "daily": "0 9 * * *",
    "weekly": "0 9 * * 1",
    "monthly": "0 9 1 * *",
    "quarterly": "0 9 1 1,4,7,10 *",
}
FORMATS = ("csv", "json", "xlsx", "pdf")
METRICS = (
    "total_pageviews",
    "total_custom_events",
    "unique_visitors",
    "unique_sessions",
    "sessions_started",
    "bounce_rate",
    "avg_session_duration_seconds",
)
SECTIONS = ("summary", "overview", "top_pages", "top_referrers", "events_by_type", "trend")
METRIC_SECTION = re.compile(r"metric:[a-z][a-z0-9_]{0,62}")
TEXT_FIELDS = ("title", "summary", "email_subject", "email_body")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEMPLATE_SUFFIXES = (".yaml", ".yml")

DEFAULT_TEXT = {
    "title": "{{ template.name }}: {{ period.label }}",
    "summary": "{{ kpi.total_pageviews.display }} pageviews across {{ websites | length }} website(s).",
    "email_subject": "[analytics] {{ template.name }}: {{ period.label }}",
    "email_body": "{{ template.name }} for {{ period.label }} is attached.\n",
}

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateError(ValueError):
    """A template file that cannot be used; the message names the file and the field."""

    def __init__(self, problem: "TemplateProblem") -> None:
        super().__init__(str(problem))
        self.problem = problem


# Why one template file was skipped (file, field, problem).
TemplateProblem = FileProblem


@dataclass(frozen=True)
class ReportTemplate:
    """One report definition and its content."""

    id: str
    name: str
    description: str
    schedule: str
    formats: tuple[str, ...]
    recipients: tuple[str, ...]
    include_metadata: bool
    active: bool
    metrics: tuple[str, ...]
    sections: tuple[str, ...]
    top_limit: int
    text: Mapping[str, str]
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def grain(self) -> str:
        """``day`` | ``week`` | ``month`` | ``quarter``."""
        return SCHEDULE_GRAIN[self.schedule]

    @property
    def cron(self) -> str:
        return SCHEDULE_CRON[self.schedule]

    @property
    def slug(self) -> str:
        """The id as a Dagster name (jobs and schedules allow only ``[A-Za-z0-9_]``)."""
        return self.id.replace("-", "_")

    def render_text(self, name: str, context: Mapping[str, Any]) -> str:
        """One of the Jinja2 text parts (title, summary, email_subject, email_body)."""
        return _JINJA.from_string(self.text[name]).render(**context)


@dataclass
class TemplateSet:
    """Every template file of a directory: the usable ones and the problems of the others."""

    directory: Path
    templates: list[ReportTemplate]
    problems: list[TemplateProblem]

    def by_id(self) -> dict[str, ReportTemplate]:
        return {t.id: t for t in self.templates}


def _fail(file: str, field_name: str, message: str) -> TemplateError:
    return TemplateError(TemplateProblem(file, field_name, message))


def _string_list(file: str, raw: Mapping[str, Any], key: str, default: list[str] | None = None) -> list[str]:
    value = raw.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(file, key, f"expected a list of non-empty strings, got {value!r}")
    return value


def _choices(file: str, key: str, values: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise _fail(file, key, f"unknown value(s) {unknown}; allowed: {', '.join(allowed)}")
    if not values:
        raise _fail(file, key, "must not be empty")
    return tuple(dict.fromkeys(values))


def _bool(file: str, raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _fail(file, key, f"expected true or false, got {value!r}")
    return value


def parse_template(raw: Any, file: str = "<template>") -> ReportTemplate:
    """A :class:`ReportTemplate` from the parsed YAML of one file; raises :class:`TemplateError`."""
    if not isinstance(raw, Mapping):
        raise _fail(file, "(file)", f"expected a mapping of fields, got {type(raw).__name__}")
    known = {"id", "name", "description", "schedule", "formats", "format", "recipients",
             "include_metadata", "active", "content"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(file, unknown[0], f"unknown field; allowed: {', '.join(sorted(known))}")
    template_id = raw.get("id")
    if not isinstance(template_id, str) or not ID_PATTERN.match(template_id):
        raise _fail(file, "id", f"expected lower-case letters, digits and dashes (1-63), got {template_id!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(file, "name", "required, a non-empty string")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(file, "description", "expected a string")
    schedule = raw.get("schedule")
    if schedule not in SCHEDULE_GRAIN:
        raise _fail(file, "schedule", f"expected one of {', '.join(SCHEDULE_GRAIN)}, got {schedule!r}")
    if "formats" in raw and "format" in raw:
        raise _fail(file, "formats", "give either formats or format, not both")
    format_key = "format" if "format" in raw else "formats"
    formats = _choices(file, format_key, [f.lower() if isinstance(f, str) else f
                                          for f in _string_list(file, raw, format_key, ["csv"])], FORMATS)
    recipients = _string_list(file, raw, "recipients", [])
    bad = [r for r in recipients if not EMAIL_PATTERN.match(r)]
    if bad:
        raise _fail(file, "recipients", f"not an e-mail address: {', '.join(bad)}")

    content = raw.get("content", {}) or {}
    if not isinstance(content, Mapping):
        raise _fail(file, "content", "expected a mapping")
    content_known = {"metrics", "sections", "top_limit", *TEXT_FIELDS}
    unknown = sorted(set(content) - content_known)
    if unknown:
        raise _fail(file, f"content.{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(content_known))}")
    metrics = _choices(file, "content.metrics", _string_list(file, content, "metrics", list(METRICS)), METRICS)
    section_names = _string_list(file, content, "sections", ["summary", "overview"])
    # "metric:<name>": a custom metric's totals over the period (metric_definitions/ files)
    sections = _choices(file, "content.sections", section_names,
                        SECTIONS + tuple(n for n in section_names if METRIC_SECTION.fullmatch(str(n))))
    top_limit = content.get("top_limit", 10)
    if not isinstance(top_limit, int) or isinstance(top_limit, bool) or not 1 <= top_limit <= 10:
        raise _fail(file, "content.top_limit", f"expected an integer 1-10 (the stats keep 10), got {top_limit!r}")
    text: dict[str, str] = {}
    for key in TEXT_FIELDS:
        value = content.get(key, DEFAULT_TEXT[key])
        if not isinstance(value, str):
            raise _fail(file, f"content.{key}", "expected a Jinja2 string")
        try:
            _JINJA.parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise _fail(file, f"content.{key}", f"Jinja2 syntax error line {exc.lineno}: {exc.message}") from None
        text[key] = value
    template = ReportTemplate(
        id=template_id,
        name=name.strip(),
        description=description.strip(),
        schedule=schedule,
        formats=formats,
        recipients=tuple(recipients),
        include_metadata=_bool(file, raw, "include_metadata", True),
        active=_bool(file, raw, "active", True),
        metrics=metrics,
        sections=sections,
        top_limit=top_limit,
        text=text,
        source=file,
    )
    context = sample_context(template)
    for key in TEXT_FIELDS:
        try:
            template.render_text(key, context)
        except jinja2.TemplateError as exc:
            raise _fail(file, f"content.{key}", f"cannot render: {exc}") from None
    return template


KPI_FIELDS = ("metric", "label", "value", "previous", "change", "change_unit", "display", "change_text")


def sample_context(template: ReportTemplate) -> dict[str, Any]:
    """Variables shaped like a real report's (see ``ReportData.text_context``), to render the
    text parts when a template loads, so an undefined variable is a template problem, not a
    failed run."""
    period = {"grain": template.grain, "start": "2024-01-01", "end": "2024-01-31", "label": "January 2024",
              "key": "2024-01-01", "status": "complete", "status_note": ""}
    kpis = [{**dict.fromkeys(KPI_FIELDS, 0), "metric": m, "label": m, "display": "0", "change_text": "n/a"}
            for m in template.metrics]
    return {
        "template": {"id": template.id, "name": template.name, "description": template.description,
                     "schedule": template.schedule},
        "period": period,
        "previous": dict(period),
        "websites": ["example"],
        "kpis": kpis,
        "kpi": {k["metric"]: k for k in kpis},
        "sections": {name: [] for name in template.sections},
        "generated_at": "2024-02-01T09:00:00+00:00",
    }


def load_template(path: Path) -> ReportTemplate:
    """One template file; raises :class:`TemplateError` naming the file and field."""
    try:
        raw = read_yaml(path)
    except YamlFileError as exc:
        if exc.unreadable:
            raise _fail(path.name, "(file)", f"cannot read: {exc.problem}") from None
        raise _fail(path.name, f"line {exc.line}" if exc.line else "(file)", f"invalid YAML: {exc.problem}") from None
    template = parse_template(raw, path.name)
    if path.stem != template.id:
        raise _fail(path.name, "id", f"id {template.id!r} must match the file name {path.stem!r}")
    return template


def load_templates(directory: Path) -> TemplateSet:
    """Every ``*.yaml``/``*.yml`` in ``directory``: valid templates and per-file problems."""
    directory = Path(directory)
    templates: list[ReportTemplate] = []
    problems: list[TemplateProblem] = []
    if not directory.is_dir():
        problems.append(TemplateProblem(str(directory), "(directory)", "templates directory does not exist"))
        return TemplateSet(directory, templates, problems)
    seen: dict[str, str] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in TEMPLATE_SUFFIXES and p.is_file()):
        try:
            template = load_template(path)
        except TemplateError as exc:
            problems.append(exc.problem)
            continue
        if template.id in seen:
            problems.append(TemplateProblem(path.name, "id", f"duplicate id {template.id!r} (also in {seen[template.id]})"))
            continue
        seen[template.id] = path.name
        templates.append(template)
    return TemplateSet(directory, templates, problems)
