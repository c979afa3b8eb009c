"""Storage tests: migrations, repositories and encryption on SQLite and (when configured) PostgreSQL."""
