-- The last day that has stored values of one metric (null when none).
SELECT max(day) AS day FROM metric_values WHERE metric = :metric
