"""Storage: SQLAlchemy models, Alembic migrations, the database handle and its unit of work."""
