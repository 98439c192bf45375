"""Daily, weekly and monthly statistics per website (SPEC §3)."""
