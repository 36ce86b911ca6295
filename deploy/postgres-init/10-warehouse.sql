-- Runs once, when the compose `postgres` volume is created (docker-entrypoint-initdb.d).
-- One server, two databases: `dagster` (POSTGRES_DB: runs, event log, schedules; dagster.prod.yaml)
-- and `warehouse` (the DuckLake catalog of ORDERFLOW_WAREHOUSE=ducklake:dbname=warehouse ...).
CREATE DATABASE warehouse;
