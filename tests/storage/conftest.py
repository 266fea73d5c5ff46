from tests.storage.db_fixtures import db, db_url, pg_url, sqlite_url

__all__ = ["db", "db_url", "pg_url", "sqlite_url"]
