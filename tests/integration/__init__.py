"""Integration tests: real PostgreSQL, Redis, DuckDB and servers started by the fixtures."""
