SELECT count(*) AS events FROM {partition}
