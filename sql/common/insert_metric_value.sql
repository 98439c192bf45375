-- One metric value: website, local day and combination of dimension values (canonical JSON).
INSERT INTO metric_values (metric, website_id, day, dimensions, value, events, inputs, computed_at)
VALUES (:metric, :website_id, :day, :dimensions, :value, :events, :inputs, :computed_at)
