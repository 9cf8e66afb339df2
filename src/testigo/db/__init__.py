"""Database layer: one schema for SQLite (embedded) and PostgreSQL (distributed)."""
