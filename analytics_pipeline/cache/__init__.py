"""Warmed dashboard cache: Redis, or an embedded table in the warehouse with the same semantics."""
