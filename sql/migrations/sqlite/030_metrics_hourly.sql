-- Hourly statistics, their late-data marks, and the values of custom metrics.
-- hourly_stats: one row per website and UTC hour with events; kept as long as raw events.
CREATE TABLE IF NOT EXISTS hourly_stats (
    website_id           TEXT NOT NULL,
    hour_start           TEXT NOT NULL,          -- 'YYYY-MM-DD HH:00:00.000000' UTC
    total_pageviews      INTEGER NOT NULL,
    total_custom_events  INTEGER NOT NULL,
    unique_visitors      INTEGER NOT NULL,
    unique_sessions      INTEGER NOT NULL,
    computed_at          TEXT NOT NULL,
    PRIMARY KEY (website_id, hour_start)
);
CREATE INDEX IF NOT EXISTS hourly_stats_hour_idx ON hourly_stats (hour_start);

-- Hours whose hourly_stats are older than their events (late data), marked by the sessions
-- asset beside stats_dirty, cleared when the hour is rebuilt.
CREATE TABLE IF NOT EXISTS hourly_stats_dirty (
    hour_start  TEXT PRIMARY KEY,
    events      INTEGER NOT NULL,
    marked_at   TEXT NOT NULL
);

-- One row per metric, website, day (the website's local day) and combination of dimension
-- values. dimensions is canonical JSON ('{}' without dimensions); inputs holds what the value
-- was computed from (event counts, sum/count/ignored) so ranges combine exactly.
CREATE TABLE IF NOT EXISTS metric_values (
    metric       TEXT NOT NULL,
    website_id   TEXT NOT NULL,
    day          TEXT NOT NULL,
    dimensions   TEXT NOT NULL,
    value        REAL,
    events       INTEGER NOT NULL,
    inputs       TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    PRIMARY KEY (metric, day, website_id, dimensions)
);
CREATE INDEX IF NOT EXISTS metric_values_website_idx ON metric_values (metric, website_id, day);
