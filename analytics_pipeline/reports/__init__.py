"""Scheduled reports (SPEC §6): template files -> report data from the stats tables -> CSV, JSON,
XLSX and PDF files -> optional e-mail delivery."""
