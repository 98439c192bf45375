"""Distinct visitors over any range, exactly and fast: the one number of the summary that
cannot be summed from daily statistics.

``count(DISTINCT visitor_id)`` over 90 days of millions of events takes seconds. The index kept
here makes it a union of bitmaps: every visitor id gets a number (in this process), and each
(UTC day, website) gets a bitmap of the visitors seen then, built once from ``events``. A range
is the union of the bitmaps of its whole UTC days plus the visitor ids of its partial days at
either end (read from ``events``), counted with ``int.bit_count``. The answer is exact: the same
set ``count(DISTINCT visitor_id)`` counts.

It stays exact as data changes: before each count, the newest ingestion batch id is compared
with the last one seen; the UTC days that new batches touched are rebuilt on their next use
(``count_loaded_events_by_day``). When retention has deleted events (it records every day it
deletes in ``retention_dropped_days``; ``select_retention_mark`` reads that table's one-row
summary, never ``events``), the days up to the day after the newest deleted one are dropped.
Past ``max_visitors`` distinct ids the index stops growing and counts fall back to the SQL
query, so memory stays bounded (about ``max_visitors / 8`` bytes per day and website).
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, timezone

from analytics_pipeline.api.queries import SiteFilter, count_unique_visitors, rows
from analytics_pipeline.warehouse import Warehouse

DEFAULT_MAX_VISITORS = 2_000_000


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


class VisitorIndex:
    """Per warehouse URL: visitor numbers and (day, website) bitmaps, shared by request threads."""

    def __init__(self, max_visitors: int = DEFAULT_MAX_VISITORS, min_days: int = 2) -> None:
        self.max_visitors = max_visitors
        self.min_days = min_days  # ranges with fewer whole days go straight to SQL
        self._lock = threading.Lock()
        self._url: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.numbers: dict[str, int] = {}
        self.days: dict[date, dict[str, int]] = {}  # day -> website -> bitmap
        self.batch_id: int | None = None
        self.retention: tuple | None = None  # select_retention_mark's row when last seen
        self.full = False

    # -- keeping it exact -----------------------------------------------------------------
    def _refresh(self, warehouse: Warehouse) -> None:
        if self._url != warehouse.url:
            self._reset()
            self._url = warehouse.url
        newest = int(warehouse.query("select_max_batch_id")[0]["batch_id"] or 0)
        if self.batch_id is not None and newest != self.batch_id:
            touched = warehouse.query("count_loaded_events_by_day",
                                      {"first_batch": self.batch_id + 1, "last_batch": newest})
            for row in touched:
                self.days.pop(Warehouse.to_date(row["day"]), None)
            if newest < self.batch_id:  # a rebuilt warehouse
                self.days.clear()
        self.batch_id = newest
        mark = warehouse.query("select_retention_mark")[0]
        newest_dropped = Warehouse.to_date(mark["newest"])
        retention = (int(mark["days"]), int(mark["events"]), newest_dropped)
        if retention != self.retention:
            # A local day deleted in a zone far from UTC reaches into the next UTC day.
            cutoff = newest_dropped + timedelta(days=1) if newest_dropped is not None else None
            for day in [d for d in self.days if cutoff is not None and d <= cutoff]:
                del self.days[day]
            self.retention = retention

    def _number(self, visitor: str) -> int:
        number = self.numbers.get(visitor)
        if number is None:
            number = self.numbers[visitor] = len(self.numbers)
        return number

    def _bitmaps(self, pairs) -> dict[str, int]:
        by_site: dict[str, list[int]] = {}
        for row in pairs:
            by_site.setdefault(row["website_id"], []).append(self._number(row["visitor_id"]))
        return {site: _bitmap(numbers) for site, numbers in by_site.items()}

    def _day(self, warehouse: Warehouse, day: date) -> dict[str, int]:
        found = self.days.get(day)
        if found is None:
            pairs = warehouse.query("select_api_visitor_pairs", {"from": warehouse.ts(_midnight(day)),
                                                                 "to": warehouse.ts(_midnight(day + timedelta(days=1)))})
            found = self.days[day] = self._bitmaps(pairs)
        return found

    # -- counting -------------------------------------------------------------------------
    def count(self, warehouse: Warehouse, start: datetime, end: datetime, sites: SiteFilter) -> int:
        """``count(DISTINCT visitor_id)`` of events with ``start <= occurred_at < end`` on the
        websites of ``sites``."""
        first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
        last = end.date()
        if (last - first).days < self.min_days or self.full:
            return count_unique_visitors(warehouse, start, end, sites)
        with self._lock:
            self._refresh(warehouse)
            union = 0
            for offset in range((last - first).days):
                for site, bitmap in self._day(warehouse, first + timedelta(days=offset)).items():
                    if _wanted(site, sites):
                        union |= bitmap
            for a, b in ((start, _midnight(first)), (_midnight(last), end)):
                if a < b:
                    pairs = rows(warehouse, "select_api_visitor_pairs_in",
                                 {"from": warehouse.ts(a), "to": warehouse.ts(b)}, sites)
                    for bitmap in self._bitmaps(pairs).values():
                        union |= bitmap
            if len(self.numbers) > self.max_visitors:
                self.full = True
                self._reset()
                self.full = True
            return union.bit_count()


def _wanted(site: str, sites: SiteFilter) -> bool:
    if sites.include is not None:
        return site in sites.include
    return site not in sites.exclude


def _bitmap(numbers: list[int]) -> int:
    if not numbers:
        return 0
    bits = bytearray(max(numbers) // 8 + 1)
    for n in numbers:
        bits[n >> 3] |= 1 << (n & 7)
    return int.from_bytes(bits, "little")
