-- Every website with daily statistics (the dashboard's website selector).
SELECT DISTINCT website_id FROM daily_stats ORDER BY website_id
