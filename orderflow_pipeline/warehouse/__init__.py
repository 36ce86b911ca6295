"""DuckDB warehouse (SPEC §7): connect, schema, load, queries, checks."""
