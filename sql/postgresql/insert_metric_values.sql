-- Many metric values in one statement: the rows parameter is a JSON array of row objects (one round trip).
INSERT INTO metric_values (metric, website_id, day, dimensions, value, events, inputs, computed_at)
SELECT r.metric, r.website_id, r.day, r.dimensions, r.value, r.events, r.inputs, :computed_at
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS r(metric text, website_id text, day date, dimensions text, value double precision, events bigint, inputs text)
