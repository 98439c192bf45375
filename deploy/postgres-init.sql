-- First start of the postgres container: one database for the Dagster instance (runs, event
-- logs, schedules), one for the warehouse. Separate, so each can be sized, backed up and moved
-- on its own.
CREATE DATABASE dagster;
CREATE DATABASE analytics;
