-- Hourly statistics, their late-data marks, and the values of custom metrics.
-- hourly_stats: one row per website and UTC hour with events; kept as long as raw events.
CREATE TABLE IF NOT EXISTS hourly_stats (
    website_id           text NOT NULL,
    hour_start           timestamptz NOT NULL,
    total_pageviews      bigint NOT NULL,
    total_custom_events  bigint NOT NULL,
    unique_visitors      bigint NOT NULL,
    unique_sessions      bigint NOT NULL,
    computed_at          timestamptz NOT NULL,
    PRIMARY KEY (website_id, hour_start)
);
CREATE INDEX IF NOT EXISTS hourly_stats_hour_idx ON hourly_stats (hour_start);

-- Hours whose hourly_stats are older than their events (late data), marked by the sessions
-- asset beside stats_dirty, cleared when the hour is rebuilt.
CREATE TABLE IF NOT EXISTS hourly_stats_dirty (
    hour_start  timestamptz PRIMARY KEY,
    events      bigint NOT NULL,
    marked_at   timestamptz NOT NULL
);

-- One row per metric, website, day (the website's local day) and combination of dimension
-- values. dimensions is canonical JSON text ('{}' without dimensions) so it can be part of the
-- key; inputs holds what the value was computed from so ranges combine exactly.
CREATE TABLE IF NOT EXISTS metric_values (
    metric       text NOT NULL,
    website_id   text NOT NULL,
    day          date NOT NULL,
    dimensions   text NOT NULL,
    value        double precision,
    events       bigint NOT NULL,
    inputs       text NOT NULL,
    computed_at  timestamptz NOT NULL,
    PRIMARY KEY (metric, day, website_id, dimensions)
);
CREATE INDEX IF NOT EXISTS metric_values_website_idx ON metric_values (metric, website_id, day);
