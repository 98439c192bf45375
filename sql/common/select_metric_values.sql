-- Stored values of one metric for days [from_day, to_day], every website and dimension combination.
SELECT website_id, day, dimensions, value, events, inputs
FROM metric_values
WHERE metric = :metric AND day >= :from_day AND day <= :to_day
ORDER BY day, website_id, dimensions
