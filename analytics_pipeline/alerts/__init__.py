"""Operating the pipeline: job status, failure notifications, metric alert rules and health
alerts, sent by e-mail and webhook and recorded in ``alert_history``."""
