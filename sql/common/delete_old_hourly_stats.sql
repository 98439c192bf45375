-- Retention: hourly statistics are kept as long as the raw events of their hour.
DELETE FROM hourly_stats WHERE hour_start < :before
