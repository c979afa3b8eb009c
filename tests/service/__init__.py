"""Service tests: the services over a migrated database, on SQLite and (when configured) PostgreSQL."""
