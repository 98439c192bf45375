"""JSON export: with ``include_metadata`` the records are wrapped as
``{"metadata": {"generatedAt", "totalRecords", "exportFormat", "version", "dateRange", "periodStatus"},
"data": [...]}``; without it the file is the bare list of records. ``data`` holds the same tidy
records as the CSV, values verbatim (JSON needs no escaping beyond its own)."""

from __future__ import annotations

import json
from typing import Any

from analytics_pipeline.reports.data import REPORT_VERSION, ReportData


def json_document(data: ReportData) -> Any:
    records = data.records()
    if not data.template.include_metadata:
        return records
    return {
        "metadata": {
            "generatedAt": data.generated_at.isoformat().replace("+00:00", "Z"),
            "totalRecords": len(records),
            "exportFormat": "JSON",
            "version": REPORT_VERSION,
            "dateRange": {"start": data.period.start.isoformat(), "end": data.period.last_day.isoformat()},
            "periodStatus": data.status,
            "statusNote": data.status_note,
        },
        "data": records,
    }


def render_json(data: ReportData) -> bytes:
    return (json.dumps(json_document(data), indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
