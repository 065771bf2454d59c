"""Our migrations never lock a live PostgreSQL table to build an index: every index they add goes
through the online operations of site_config/machinery/migrations.py, in a non-atomic migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
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
        names = set(connection.introspection.get_constraints(cursor, "django_celery_results_taskresult"))
    assert {"dash_tr_status_created", "dash_tr_done_id"} <= names


@pytest.mark.postgresql_only  # trigram indexes are PostgreSQL's (pg_trgm)
def test_the_task_lists_text_search_is_answered_by_the_trigram_indexes(db):
    """The indexes of migrations 0020 and 0023 are on the very expressions Django's `icontains` writes, so with
    thousands of tasks in the search window the planner finds the few rows whose arguments hold the
    term through them instead of reading the whole window. A table this small fits in a few pages, which the
    planner would rather read whole or walk by date; on a real one it would not, so the test tells it
    not to (docs/benchmarks.md has the plans at ten million rows)."""
    import uuid

    from django_celery_results.models import TaskResult

    from dashboard.models import TaskLaunch
    from dashboard.monitor.filters import filtered_tasks

    TaskResult.objects.bulk_create(
        TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.report", status="SUCCESS",
                   task_args=f"('invoice-{i}',)", task_kwargs="{}", result=f'{{"rows": {i}}}')
        for i in range(3000))
    TaskLaunch.objects.bulk_create(TaskLaunch(task_id=task_id, finished_result=result) for task_id, result
                                   in TaskResult.objects.values_list("task_id", "result"))
    with connection.cursor() as cursor:
        # What autovacuum does on a live site: statistics, and the GIN indexes' pending entries merged
        cursor.execute("ANALYZE django_celery_results_taskresult")
        cursor.execute("ANALYZE dashboard_tasklaunch")
        for index in ("dash_tr_task_args_trgm", "dash_tr_task_kwargs_trgm", "launch_finished_result_trgm"):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("SET enable_seqscan = off")  # both undone with the test's transaction
        cursor.execute("SET enable_indexscan = off")
        for search, indexes in (({"args": "invoice-4242"}, ["dash_tr_task_args_trgm", "dash_tr_task_kwargs_trgm"]),
                                ({"text": "invoice-4242"}, ["dash_tr_task_args_trgm", "dash_tr_task_kwargs_trgm",
                                                            "launch_finished_result_trgm"])):
            sql, params = filtered_tasks(search).order_by().values("pk").query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for index in indexes:
                assert index in plan, plan
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%%upper(result)%%'")
        assert cursor.fetchall() == []  # progress reports change `result`: they must stay HOT updates


@pytest.mark.postgresql_only  # covering indexes (INCLUDE) are PostgreSQL's
def test_a_filtered_windows_state_counts_are_read_from_a_covering_index(transactional_db):
    """Migration 0022 replaces the one-column indexes of the task list by the same keys carrying the
    state, so counting a window by name, worker or schedule is an index-only scan, and the pages
    keep walking the same keys."""
    import uuid

    from django.utils import timezone
    from django_celery_results.models import TaskResult

    from dashboard.monitor.filters import _window_counts, filtered_tasks

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'dash_tr_%%'")
        definitions = dict(cursor.fetchall())
    for name, keys in (("dash_tr_created_cover", "(date_created, id)"),
                       ("dash_tr_name_cover", "(task_name, date_created, id)"),
                       ("dash_tr_worker_cover", "(worker, date_created, id)"),
                       ("dash_tr_periodic_cover", "(periodic_task_name, date_created, id)")):
        assert definitions[name].endswith(f"{keys} INCLUDE (status)"), definitions[name]
    assert not {"dash_tr_created_id", "dash_tr_name_created", "dash_tr_worker_created",
                "dash_tr_periodic_created"} & set(definitions)

    TaskResult.objects.bulk_create(
        TaskResult(task_id=str(uuid.uuid4()), task_name=f"app.tasks.job_{i % 20}", worker=f"w{i % 4}@host",
                   status="SUCCESS" if i % 7 else "FAILURE") for i in range(4000))
    since = timezone.now() - timedelta(hours=1)
    counted = _window_counts({"name": "app.tasks.job_3", "date_from": since})
    assert counted == {"SUCCESS": 171, "FAILURE": 29}
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) django_celery_results_taskresult")  # what autovacuum does
        cursor.execute("SET enable_seqscan = off")
        try:
            for data, index in (({"name": "app.tasks.job_3"}, "dash_tr_name_cover"),
                                ({"worker": "w1@host"}, "dash_tr_worker_cover"), ({}, "dash_tr_created_cover")):
                sql, params = filtered_tasks({**data, "date_from": since}).order_by().values("status").query \
                    .sql_with_params()
                cursor.execute("EXPLAIN " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert f"Index Only Scan using {index}" in plan, plan
        finally:
            cursor.execute("RESET enable_seqscan")


def test_the_copy_of_ended_tasks_results_is_made_for_the_rows_already_there(db, monkeypatch):
    """Migration 0023 gives each launch of a task that had already ended the copy of its result that
    the free-text search reads, batch by batch; no copy for a task still running."""
    import importlib
    import uuid

    from django.apps import apps
    from django_celery_results.models import TaskResult

    from dashboard.models import TaskLaunch

    migration = importlib.import_module("dashboard.migrations.0023_launch_finished_result")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches out of a few rows
    rows = {}
    for i, status in enumerate(["SUCCESS", "FAILURE", "PROGRESS", "REVOKED", "STARTED"]):
        task_id = str(uuid.uuid4())
        TaskResult.objects.create(task_id=task_id, status=status, result=f'{{"row": {i}}}')
        TaskLaunch.objects.create(task_id=task_id)
        rows[task_id] = f'{{"row": {i}}}' if status in ("SUCCESS", "FAILURE", "REVOKED") else None
    TaskLaunch.objects.update(finished_result=None)  # as the rows were before the migration

    class SchemaEditor:
        connection = connection

    migration.copy_finished_results(apps, SchemaEditor())
    assert dict(TaskLaunch.objects.values_list("task_id", "finished_result")) == rows


def test_a_task_that_ends_by_any_path_leaves_its_result_on_its_launch(db):
    """The trigger of migration 0023 copies the result when a row is stored ended (inserted so, or
    updated to it) and when an ended row's result changes; a running task's progress is not copied."""
    import uuid

    from django_celery_results.models import TaskResult

    from dashboard.models import TaskLaunch

    def launched(status=None, result=None):
        task_id = str(uuid.uuid4())
        TaskLaunch.objects.create(task_id=task_id)
        if status:
            TaskResult.objects.create(task_id=task_id, status=status, result=result)
        return task_id

    def copy(task_id):
        return TaskLaunch.objects.get(task_id=task_id).finished_result

    revoked = launched("REVOKED", '{"exc_message": ["revoked before it ran"]}')  # inserted ended
    assert copy(revoked) == '{"exc_message": ["revoked before it ran"]}'
    running = launched("STARTED", '{"pid": 1}')
    TaskResult.objects.filter(task_id=running).update(status="PROGRESS", result='{"current": 1, "total": 2}')
    assert copy(running) is None  # progress: no copy
    TaskResult.objects.filter(task_id=running).update(status="SUCCESS", result='{"rows": 2}')
    assert copy(running) == '{"rows": 2}'
    row = TaskResult.objects.get(task_id=running)  # saved whole, as django-celery-results stores it
    row.result = '{"rows": 3}'
    row.save()
    assert copy(running) == '{"rows": 3}'
    failed = launched("STARTED")
    TaskResult.objects.filter(task_id=failed).update(status="FAILURE", result='{"exc_type": "WorkerLostError"}')
    assert copy(failed) == '{"exc_type": "WorkerLostError"}'
