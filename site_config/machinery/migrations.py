"""Migration operations that add indexes without locking a live PostgreSQL table.

`CREATE INDEX` takes a lock that blocks every write to the table until the index is built: minutes
on a task table of ten million rows, during which no worker can store a result. On PostgreSQL these
operations build with `CREATE INDEX CONCURRENTLY` (writes go on; the migration must not run in a
transaction, so migrations that use them set `atomic = False`); on SQLite, the embedded default,
they build the usual way. Every index our migrations add goes through them (tests/test_migrations.py).
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations


class AddIndexOnline(AddIndexConcurrently):
    """`AddIndex`, built concurrently on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class CreateIndexOnline(migrations.RunSQL):
    """An index on a table another app owns (django-celery-results' task table), by name and SQL
    column list, built concurrently on PostgreSQL."""

    def __init__(self, *, name: str, table: str, columns: str, postgresql_only: bool = False) -> None:
        self.index_name, self.table, self.columns = name, table, columns
        #: an index of a kind only PostgreSQL has (a trigram GIN index): skipped on SQLite
        self.postgresql_only = postgresql_only
        super().__init__(sql=migrations.RunSQL.noop, reverse_sql=migrations.RunSQL.noop)

    def deconstruct(self):
        kwargs = {"name": self.index_name, "table": self.table, "columns": self.columns}
        if self.postgresql_only:
            kwargs["postgresql_only"] = True
        return (self.__class__.__qualname__, [], kwargs)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if self.postgresql_only and schema_editor.connection.vendor != "postgresql":
            return
        if schema_editor.connection.vendor == "postgresql":
            if schema_editor.connection.in_atomic_block:
                raise RuntimeError(f"{self.index_name}: set atomic = False on the migration (CONCURRENTLY).")
            schema_editor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.index_name} ON {self.table} {self.columns}")
        else:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {self.index_name} ON {self.table} {self.columns}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.postgresql_only and schema_editor.connection.vendor != "postgresql":
            return
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {self.index_name}")

    def describe(self):
        return f"Create index {self.index_name} on {self.table} {self.columns} (concurrently on PostgreSQL)"


class DropIndexOnline(CreateIndexOnline):
    """The reverse of CreateIndexOnline: drops the index (concurrently on PostgreSQL), and builds it
    again from `columns` when the migration is reversed."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_backwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Drop index {self.index_name} on {self.table} (concurrently on PostgreSQL)"


class TrigramExtensionOnPostgreSQL(TrigramExtension):
    """pg_trgm, on PostgreSQL only, both ways: Django's own operation skips other databases going
    forwards but, reversed, asks them for PostgreSQL's catalogue."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
