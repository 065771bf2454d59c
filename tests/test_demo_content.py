"""First run: `manage.py demo_content` fills a database once, and `make run` calls it only for a
database its own migrate created (site_config/devtools/run_local.py)."""

from __future__ import annotations

import io
import os
import sqlite3

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test.utils import override_settings
from django_celery_results.models import TaskResult

from blog.models import Comment, ModerationDecision, Post, Profile
from dashboard.demo.services import FAILED_TASK_ID, SUCCEEDED_TASK_ID, demo_report_days
from dashboard.models import DailyReport, TaskEvent, TaskLaunch
from site_config.devtools import run_local
from tests.conftest import make_user

DEMO_TABLES = [get_user_model(), Profile, Post, Comment, ModerationDecision, TaskResult, TaskLaunch, TaskEvent,
               DailyReport]


def demo_content(*args: str) -> str:
    out = io.StringIO()
    call_command("demo_content", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in DEMO_TABLES}


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


@pytest.fixture(scope="class")
def demo_site(django_db_setup, django_db_blocker):
    """The demo content, built once (pictures included, about 2 s) for every test of a class that reads
    it, inside a transaction rolled back when the class ends: each test's own transaction nests in it
    as a savepoint, so what a test writes is undone and no other test sees the content.
    Yields the staff member the content names as moderator (alice) and the command's first output."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        alice = make_user("alice", staff=True)
        yield alice, demo_content()
        transaction.set_rollback(True)


class TestDemoSite:
    def test_demo_content_creates_everything_once(self, db, debug_on, demo_site):
        alice, first = demo_site
        after_first = row_counts()
        second = demo_content()

        assert "created 3 members, 3 posts, 7 comments, 2 tasks" in first
        assert "nothing created" in second
        assert row_counts() == after_first
        assert Post.objects.filter(status=Post.Status.PUBLISHED).count() == 3
        # Each post has a drawn picture with its web sizes made (no worker needed), as an upload would.
        for post in Post.objects.all():
            assert (post.image_status, post.image_alt != "") == ("ready", True)
            assert sorted(post.image_renditions.values_list("format", "width")) == [
                ("jpeg", 480), ("jpeg", 960), ("jpeg", 1600), ("webp", 480), ("webp", 960), ("webp", 1600)]
        members = get_user_model().objects.filter(username__in=["ada", "grace", "alan"])
        assert all(member.profile.is_verified for member in members)
        assert set(Comment.objects.values_list("status", flat=True)) == {"pending", "approved", "held", "spam",
                                                                         "rejected"}
        rejected = Comment.objects.get(status="rejected")
        assert rejected.moderated_by == alice
        assert list(rejected.decisions.values_list("previous_status", "new_status")) == [("pending", "held"),
                                                                                        ("held", "rejected")]

    def test_demo_tasks_are_recorded_as_a_worker_records_them(self, db, demo_site):
        alice, _ = demo_site
        succeeded = TaskResult.objects.get(task_id=SUCCEEDED_TASK_ID)
        failed = TaskResult.objects.get(task_id=FAILED_TASK_ID)
        assert (succeeded.status, succeeded.task_name) == ("SUCCESS", "dashboard.tasks.demo_job_task")
        assert failed.status == "FAILURE"
        assert "DemoJobError" in failed.result and "demo job failed at step 3" in failed.result
        assert "Traceback" in failed.traceback and "raise DemoJobError" in failed.traceback
        for task_id, last in ((SUCCEEDED_TASK_ID, "succeeded"), (FAILED_TASK_ID, "failed")):
            kinds = list(TaskEvent.objects.filter(task_id=task_id).values_list("kind", flat=True))
            assert kinds == ["queued", "received", "started", last]
            launch = TaskLaunch.objects.get(task_id=task_id)
            assert launch.launched_by == alice and launch.runtime > 0

    def test_daily_reports_cover_the_days_of_the_demo_content(self, db, demo_site):
        reports = DailyReport.objects.order_by("day")
        # From the first member's joining (a week ago) to the day before the newest comment (a minute ago).
        assert [report.day for report in reports] == demo_report_days()
        assert len(reports) >= 6
        assert sum(report.comments_total for report in reports) == Comment.objects.exclude(status="pending").count()
        assert sum(report.posts_published for report in reports) == 3

    @pytest.mark.parametrize("path", [
        "/blog/",
        "/blog/why-every-background-job-deserves-a-progress-bar/",
        "/dashboard/",
        "/dashboard/tasks/",
        f"/dashboard/tasks/{FAILED_TASK_ID}/",
        "/dashboard/moderation/",
        "/dashboard/moderation/?status=spam",
        "/dashboard/reports/",
    ])
    def test_every_main_page_shows_the_demo_content(self, db, debug_on, client, demo_site, path):
        alice, _ = demo_site
        client.force_login(alice)

        html = client.get(path).content.decode()

        expected = {
            "/blog/": "Moderating comments with plain rules",
            "/blog/why-every-background-job-deserves-a-progress-bar/": "The snapshot on reconnect is the part",
            "/dashboard/": "demo_job_task",
            "/dashboard/tasks/": FAILED_TASK_ID,
            f"/dashboard/tasks/{FAILED_TASK_ID}/": "demo job failed at step 3 as requested",
            "/dashboard/moderation/": "https://example.com/moderation",
            "/dashboard/moderation/?status=spam": "crypto giveaway",
            "/dashboard/reports/": "/dashboard/reports/20",
        }[path]
        assert expected in html


def test_demo_content_refuses_to_run_with_debug_off_unless_forced(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        demo_content()
    assert Post.objects.count() == 0

    demo_content("--force")
    assert Post.objects.count() == 3


# --- make run: when to add it ---

@pytest.mark.parametrize(("fresh", "env", "adds"), [
    (True, {"DJANGO_DEBUG": "1"}, []),
    (False, {"DJANGO_DEBUG": "1"}, None),
    (True, {"DJANGO_DEBUG": "1", "DEMO_CONTENT": "0"}, None),
    (True, {"DJANGO_DEBUG": "0"}, None),
    (True, {"DJANGO_DEBUG": "0", "DEMO_CONTENT": "force"}, ["--force"]),
    (False, {"DJANGO_DEBUG": "1", "DEMO_CONTENT": "force"}, None),
])
def test_make_run_adds_demo_content_to_a_new_database_with_debug_on_unless_turned_off(fresh, env, adds):
    extra, why = run_local.demo_content_decision(fresh=fresh, env=env)
    assert extra == adds
    assert why.startswith("Demo content:")


def test_make_run_refuses_an_unknown_demo_content_setting():
    with pytest.raises(ValueError, match="DEMO_CONTENT='maybe'"):
        run_local.demo_content_decision(fresh=True, env={"DEMO_CONTENT": "maybe"})


def test_make_run_adds_demo_content_only_when_its_own_migrate_created_the_tables(tmp_path, capfd):
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_VAR_DIR": str(tmp_path),
           "DJANGO_DEBUG": "1", "DJANGO_SUPERUSER_PASSWORD": "demo-test-password"}
    env.pop("DEMO_CONTENT", None)

    assert run_local.database_prepare(env) is True
    assert "Demo content: a new database" in capfd.readouterr().out
    assert run_local.database_prepare(env) is False
    assert "the database already existed" in capfd.readouterr().out

    with sqlite3.connect(database) as connection:
        posts = connection.execute("SELECT count(*) FROM blog_post").fetchone()[0]
        staff = connection.execute("SELECT username FROM auth_user WHERE is_staff").fetchall()
        launched = connection.execute("SELECT count(*) FROM dashboard_tasklaunch WHERE launched_by_id IS NOT NULL").fetchone()[0]
    assert posts == 3
    assert staff == [("admin",)]
    assert launched == 2  # the staff account ensure_staff made first launched the demo tasks
