-- Run first in the rebuild transaction (as clear_stats_dirty_mark): a mark written later survives.
DELETE FROM hourly_stats_dirty WHERE hour_start >= :start AND hour_start < :end
