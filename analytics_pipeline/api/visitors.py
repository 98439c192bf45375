"""Distinct visitors over a range, exactly: the one number of the summary that cannot be summed
from daily statistics."""

from __future__ import annotations

from datetime import datetime

from analytics_pipeline.api.queries import SiteFilter, count_unique_visitors
from analytics_pipeline.warehouse import Warehouse


class VisitorIndex:
    """Counts ``count(DISTINCT visitor_id)`` over ``[start, end)`` in the warehouse."""

    def count(self, warehouse: Warehouse, start: datetime, end: datetime, sites: SiteFilter) -> int:
        return count_unique_visitors(warehouse, start, end, sites)
