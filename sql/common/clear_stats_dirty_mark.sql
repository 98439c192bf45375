-- Run first in the rebuild transaction: a mark written after this statement survives, and any
-- mark it deletes belongs to events the rebuild's INSERT (which runs later) will see.
DELETE FROM stats_dirty WHERE grain = :grain AND period_start = :period
