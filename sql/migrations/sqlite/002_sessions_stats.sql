-- Sessions and the daily / weekly / monthly statistics (SPEC §3).
CREATE TABLE IF NOT EXISTS sessions (
    session_id        TEXT PRIMARY KEY,
    website_id        TEXT NOT NULL,
    visitor_id        TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    last_activity_at  TEXT NOT NULL,
    ended_at          TEXT,
    duration_seconds  INTEGER,
    pageviews         INTEGER NOT NULL,
    events            INTEGER NOT NULL,
    entry_path        TEXT,
    exit_path         TEXT,
    referrer          TEXT,
    is_bounce         INTEGER NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_started_at_idx ON sessions (started_at);
CREATE INDEX IF NOT EXISTS sessions_open_idx ON sessions (last_activity_at) WHERE ended_at IS NULL;

CREATE TABLE IF NOT EXISTS daily_stats (
    website_id                    TEXT NOT NULL,
    date                          TEXT NOT NULL,
    total_pageviews               INTEGER NOT NULL,
    total_custom_events           INTEGER NOT NULL,
    unique_visitors               INTEGER NOT NULL,
    unique_sessions               INTEGER NOT NULL,
    top_pages                     TEXT NOT NULL,
    top_referrers                 TEXT NOT NULL,
    events_by_type                TEXT NOT NULL,
    sessions_started              INTEGER NOT NULL,
    bounce_rate                   REAL NOT NULL,
    avg_session_duration_seconds  REAL NOT NULL,
    computed_at                   TEXT NOT NULL,
    PRIMARY KEY (website_id, date)
);
CREATE INDEX IF NOT EXISTS daily_stats_date_idx ON daily_stats (date);

CREATE TABLE IF NOT EXISTS weekly_stats (
    website_id                    TEXT NOT NULL,
    period_start                  TEXT NOT NULL,
    total_pageviews               INTEGER NOT NULL,
    total_custom_events           INTEGER NOT NULL,
    unique_visitors               INTEGER NOT NULL,
    unique_sessions               INTEGER NOT NULL,
    top_pages                     TEXT NOT NULL,
    top_referrers                 TEXT NOT NULL,
    events_by_type                TEXT NOT NULL,
    sessions_started              INTEGER NOT NULL,
    bounce_rate                   REAL NOT NULL,
    avg_session_duration_seconds  REAL NOT NULL,
    computed_at                   TEXT NOT NULL,
    PRIMARY KEY (website_id, period_start)
);

CREATE TABLE IF NOT EXISTS monthly_stats (
    website_id                    TEXT NOT NULL,
    period_start                  TEXT NOT NULL,
    total_pageviews               INTEGER NOT NULL,
    total_custom_events           INTEGER NOT NULL,
    unique_visitors               INTEGER NOT NULL,
    unique_sessions               INTEGER NOT NULL,
    top_pages                     TEXT NOT NULL,
    top_referrers                 TEXT NOT NULL,
    events_by_type                TEXT NOT NULL,
    sessions_started              INTEGER NOT NULL,
    bounce_rate                   REAL NOT NULL,
    avg_session_duration_seconds  REAL NOT NULL,
    computed_at                   TEXT NOT NULL,
    PRIMARY KEY (website_id, period_start)
);

-- Periods whose statistics are older than their events: marked when the sessions asset takes
-- in new events, cleared when the period is re-aggregated. Late data and retention read it.
CREATE TABLE IF NOT EXISTS stats_dirty (
    grain        TEXT NOT NULL CHECK (grain IN ('day', 'week', 'month')),
    period_start TEXT NOT NULL,
    events       INTEGER NOT NULL,
    marked_at    TEXT NOT NULL,
    PRIMARY KEY (grain, period_start)
);
