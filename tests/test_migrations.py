"""Our migrations never lock a live PostgreSQL table to build an index: every index they add goes
through the online operations of site_config/machinery/migrations.py, in a non-atomic migration."""

from __future__ import annotations

from django.db import connection, migrations
from django.db.migrations.loader import MigrationLoader

from site_config.machinery.migrations import AddIndexOnline, CreateIndexOnline

OUR_APPS = {"blog", "dashboard", "weather", "site_config"}


def _our_migrations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return [migration for (app, _), migration in loader.disk_migrations.items() if app in OUR_APPS]


def test_every_index_our_migrations_add_is_built_online():
    plain = []
    for migration in _our_migrations():
        for operation in migration.operations:
            online = isinstance(operation, (AddIndexOnline, CreateIndexOnline))
            if isinstance(operation, migrations.AddIndex) and not online:
                plain.append(f"{migration.app_label}.{migration.name}: AddIndex {operation.index.name}")
            if (isinstance(operation, migrations.RunSQL) and not online
                    and "CREATE INDEX" in str(operation.sql).upper()):
                plain.append(f"{migration.app_label}.{migration.name}: RunSQL CREATE INDEX")
            if online and migration.atomic:
                plain.append(f"{migration.app_label}.{migration.name}: online index in an atomic migration")
    assert plain == [], "use AddIndexOnline / CreateIndexOnline with atomic = False:\n" + "\n".join(plain)


def test_the_task_tables_indexes_exist_after_migrating(db):
    with connection.cursor() as cursor:
        names = {c["columns"] and name for name, c in
                 connection.introspection.get_constraints(cursor, "django_celery_results_taskresult").items()}
    assert {"dash_tr_status_created", "dash_tr_done_id"} <= names
