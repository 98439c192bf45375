-- Many metric values in one statement: the rows parameter is a JSON array of row objects.
INSERT INTO metric_values (metric, website_id, day, dimensions, value, events, inputs, computed_at)
SELECT json_extract(value, '$.metric'), json_extract(value, '$.website_id'), json_extract(value, '$.day'),
       json_extract(value, '$.dimensions'), json_extract(value, '$.value'), json_extract(value, '$.events'),
       json_extract(value, '$.inputs'), :computed_at
FROM json_each(:rows)
