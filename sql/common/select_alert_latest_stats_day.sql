SELECT max(date) AS latest_day FROM daily_stats
