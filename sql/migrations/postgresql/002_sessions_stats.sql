-- Sessions and the daily / weekly / monthly statistics (SPEC §3).
CREATE TABLE IF NOT EXISTS sessions (
    session_id        text PRIMARY KEY,
    website_id        text NOT NULL,
    visitor_id        text NOT NULL,
    started_at        timestamptz NOT NULL,
    last_activity_at  timestamptz NOT NULL,
    ended_at          timestamptz,
    duration_seconds  integer,
    pageviews         integer NOT NULL,
    events            integer NOT NULL,
    entry_path        text,
    exit_path         text,
    referrer          text,
    is_bounce         boolean NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_started_at_idx ON sessions (started_at);
CREATE INDEX IF NOT EXISTS sessions_open_idx ON sessions (last_activity_at) WHERE ended_at IS NULL;

CREATE TABLE IF NOT EXISTS daily_stats (
    website_id                    text NOT NULL,
    date                          date NOT NULL,
    total_pageviews               bigint NOT NULL,
    total_custom_events           bigint NOT NULL,
    unique_visitors               bigint NOT NULL,
    unique_sessions               bigint NOT NULL,
    top_pages                     jsonb NOT NULL,
    top_referrers                 jsonb NOT NULL,
    events_by_type                jsonb NOT NULL,
    sessions_started              bigint NOT NULL,
    bounce_rate                   double precision NOT NULL,
    avg_session_duration_seconds  double precision NOT NULL,
    computed_at                   timestamptz NOT NULL,
    PRIMARY KEY (website_id, date)
);
CREATE INDEX IF NOT EXISTS daily_stats_date_idx ON daily_stats (date);

CREATE TABLE IF NOT EXISTS weekly_stats (LIKE daily_stats INCLUDING DEFAULTS);
ALTER TABLE weekly_stats RENAME COLUMN date TO period_start;
ALTER TABLE weekly_stats ADD PRIMARY KEY (website_id, period_start);

CREATE TABLE IF NOT EXISTS monthly_stats (LIKE weekly_stats INCLUDING DEFAULTS);
ALTER TABLE monthly_stats ADD PRIMARY KEY (website_id, period_start);

CREATE TABLE IF NOT EXISTS stats_dirty (
    grain        text NOT NULL CHECK (grain IN ('day', 'week', 'month')),
    period_start date NOT NULL,
    events       bigint NOT NULL,
    marked_at    timestamptz NOT NULL,
    PRIMARY KEY (grain, period_start)
);
