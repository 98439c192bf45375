"""Event intake over HTTP: ``POST /api/events`` and ``POST /api/events/batch``.

Events are validated by the ingestion rules (:mod:`analytics_pipeline.ingestion.validate`),
appended to a landing file and fsynced before the answer; the landing sensor ingests the files
like any other, so the file path stays the only way into the warehouse.
"""
