"""Storage: SQLAlchemy 2 async models, repositories, the unit of work, Alembic migrations and encryption.

`storage/` owns all SQL. Services get a `UnitOfWork` (see `storage.repositories`), never an engine.
"""
