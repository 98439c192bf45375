"""Statistics SQL that runs once per time zone, and events counted in websites' local days.

With a websites file, each website's day D is its own local day D (``analytics_pipeline.websites``).
Statistics SQL then runs once per :class:`~analytics_pipeline.websites.ZoneGroup`: the group's
``[start, end)`` UTC window of the period, and its website filter as bound parameters
(``:every_website``, ``:include``, ``:exclude``, the last two expanding lists). With no websites
file there is one group at UTC and callers keep the plain UTC SQL, unchanged.

Where a query must say on which local day each event fell (late-data marks, the reconciliation
check, retention), it counts events per website and 15-minute UTC bucket, and Python maps each
bucket to the website's local day (:data:`~analytics_pipeline.websites.BUCKET`). Cache, reports,
retention and the serving API reuse these helpers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa

from analytics_pipeline.websites import WebsiteDirectory, ZoneGroup, bucket_day, bucket_start, group_bounds
from analytics_pipeline.warehouse import Warehouse


def zone_sql(warehouse: Warehouse, name: str, **identifiers: str) -> sa.TextClause:
    """The SQL file ``name`` with ``:include`` / ``:exclude`` bound as expanding lists of text."""
    return warehouse.sql(name, **identifiers).bindparams(
        sa.bindparam("include", expanding=True, type_=sa.String),
        sa.bindparam("exclude", expanding=True, type_=sa.String),
    )


def zone_query(warehouse: Warehouse, name: str, params: Mapping[str, Any], **identifiers: str) -> list[dict[str, Any]]:
    """Rows of a zone-filtered SQL file (see :func:`zone_sql`) as dicts."""
    with warehouse.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(zone_sql(warehouse, name, **identifiers), dict(params))]


def group_filter(group: ZoneGroup) -> dict[str, Any]:
    """The website filter of one zone group as bound parameters. An empty list is bound as
    ``[""]`` (no website id is empty): SQLAlchemy's rendering of an empty expanding IN is
    dialect-specific and miscounts positional parameters on SQLite when names repeat."""
    return {"every_website": group.include is None, "include": list(group.include or ("",)),
            "exclude": list(group.exclude or ("",))}


def group_params(warehouse: Warehouse, group: ZoneGroup, start: date, end: date) -> dict[str, Any]:
    """Window and website filter of the group's local days ``start`` .. ``end`` (exclusive)."""
    lo, hi = group_bounds(group, start, end)
    return {"start": warehouse.ts(lo), "end": warehouse.ts(hi), **group_filter(group)}


def window_arrays(warehouse: Warehouse, directory: WebsiteDirectory, start: date, end: date) -> dict[str, Any]:
    """Every website's window of its local days ``start`` .. ``end`` (exclusive) as the arrays
    of one statement for all zones (PostgreSQL's ``insert_local_period_stats``): the listed
    websites' ids, starts and ends; the default zone's window; the span that holds every
    window; and the core that every window holds (empty when zones are more than a day apart)."""
    from analytics_pipeline.websites import local_midnight

    ids = sorted(directory.websites)
    starts = [local_midnight(directory.timezone_name(i), start) for i in ids]
    ends = [local_midnight(directory.timezone_name(i), end) for i in ids]
    default_start = local_midnight(directory.default_timezone, start)
    default_end = local_midnight(directory.default_timezone, end)
    ts = warehouse.ts
    return {
        "ids": ids, "starts": [ts(s) for s in starts], "ends": [ts(e) for e in ends],
        "default_start": ts(default_start), "default_end": ts(default_end),
        "span_start": ts(min([default_start, *starts])), "span_end": ts(max([default_end, *ends])),
        "core_start": ts(max([default_start, *starts])), "core_end": ts(min([default_end, *ends])),
    }


def local_day_counts(directory: WebsiteDirectory, rows: Iterable[Mapping[str, Any]],
                     columns: tuple[str, ...] = ("events",)) -> dict[tuple[str, date], Counter]:
    """Rows of (website_id, bucket, <columns>) summed per (website, local day)."""
    out: dict[tuple[str, date], Counter] = {}
    for row in rows:
        key = (row["website_id"], bucket_day(directory, row["website_id"], bucket_start(row["bucket"])))
        counter = out.setdefault(key, Counter())
        for col in columns:
            counter[col] += int(row[col] or 0)
    return out


def per_zone_rows(warehouse: Warehouse, name: str, directory: WebsiteDirectory, windows: Mapping[str, tuple[date, date]],
                  params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a zone-filtered SQL file run once per zone group, each over the group's local days
    ``windows[zone] = (first, end)`` bound as ``:from`` / ``:to`` (UTC instants)."""
    from analytics_pipeline.websites import zone_groups

    rows: list[dict[str, Any]] = []
    for group in zone_groups(directory):
        first, end = windows[group.timezone]
        lo, hi = group_bounds(group, first, end)
        rows += zone_query(warehouse, name, {**(params or {}), "from": warehouse.ts(lo), "to": warehouse.ts(hi),
                                             **group_filter(group)})
    return rows
