-- One metric's stored day, replaced whole when the day is (re)computed.
DELETE FROM metric_values WHERE metric = :metric AND day = :day
