"""The service tests' fixtures: a migrated database on each backend (tests/support/database.py)."""

from tests.support.database import (  # noqa: F401 (fixtures, found by name)
    backend_url,
    cipher,
    database_url,
    engine,
    factory,
    now,
    postgres_database,
)
