"""Storage adapters: one SQL store over SQLite or PostgreSQL, with one schema managed by Alembic."""
