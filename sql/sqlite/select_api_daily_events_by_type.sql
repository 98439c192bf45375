-- Events per type summed over the daily statistics of the websites in the filter for the (local)
-- days in [from_day, to_day). Website filter: include_all = 1 takes every website not in the
-- exclude list, else only the websites in the include list (expanding lists).
SELECT kv.key AS event_type, sum(kv.value) AS count
FROM daily_stats, json_each(daily_stats.events_by_type) AS kv
WHERE date >= :from_day AND date < :to_day
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
GROUP BY kv.key
