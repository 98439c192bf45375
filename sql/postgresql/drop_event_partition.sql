-- A whole UTC day of raw events, gone at once: no row-by-row delete, no bloat, no vacuum.
DROP TABLE IF EXISTS {partition}
