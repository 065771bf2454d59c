"""Every dashboard action has its named permission: staff without it see the page read-only, and the
server refuses the action with a 403 that says which permission is needed (htmx requests too).
The upgrade grants the new permissions to the staff who had them implicitly."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_results.models import TaskResult

from blog.models import Comment, ModerationDecision, OutboundEmail
from tests.blog_helpers import make_comment, make_post
from tests.conftest import browser_login, grant, make_user

DECIDE = "dashboard.decide_comments"
RESEND = "dashboard.resend_email"
START = "dashboard.start_demo_job"


@pytest.fixture
def olga(db):
    """Staff with no permission at all."""
    return make_user("olga", staff=True)


@pytest.fixture
def held_comment(alice, bob):
    return make_comment(make_post(alice), bob, body="held for a moderator")


@pytest.fixture
def failed_email(db):
    return OutboundEmail.objects.create(to="x@example.com", subject="Hello", body="Hi", kind="comment_approved",
                                        status="failed", last_error="SMTPServerDisconnected: gone")


# (permission, request, what the page refuses to have changed)
REFUSALS = {
    "decide one comment": (
        DECIDE, lambda objects: (f"/dashboard/moderation/{objects['comment'].pk}/decide/",
                                 {"action": "approve", "status": "held"}),
        "Deciding comments needs the permission “Can decide comments (approve, reject, mark as spam)”.",
    ),
    "decide in bulk": (
        DECIDE, lambda objects: ("/dashboard/moderation/bulk/",
                                 {"action": "spam", "status": "held", "selected": [objects["comment"].pk]}),
        "Deciding comments needs the permission “Can decide comments (approve, reject, mark as spam)”.",
    ),
    "send a failed email again": (
        RESEND, lambda objects: (f"/dashboard/outbox/{objects['email'].pk}/retry/", {}),
        "Sending a failed email again needs the permission “Can send failed emails again”.",
    ),
    "start the demo job": (
        START, lambda objects: ("/dashboard/tasks/demo/", {"steps": 3, "delay_ms": 0}),
        "Starting the demo job needs the permission “Can start the demo job”.",
    ),
}


def _nothing_changed(objects) -> bool:
    return (Comment.objects.get(pk=objects["comment"].pk).status == "held"
            and not ModerationDecision.objects.exists()
            and OutboundEmail.objects.get(pk=objects["email"].pk).status == "failed"
            and not TaskResult.objects.exists())


@pytest.mark.django_db
@pytest.mark.parametrize("action", list(REFUSALS))
def test_staff_without_the_permission_are_refused_with_a_403_that_says_which(
        client, olga, held_comment, failed_email, django_capture_on_commit_callbacks, action):
    permission, make_request, message = REFUSALS[action]
    objects = {"comment": held_comment, "email": failed_email}
    url, data = make_request(objects)
    client.force_login(olga)

    plain = client.post(url, data)
    assert plain.status_code == 403
    assert message in plain.content.decode() and "<h1>Forbidden</h1>" in plain.content.decode()
    htmx = client.post(url, data, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 403
    assert message in htmx.content.decode() and "<html" not in htmx.content.decode(), "htmx gets the message alone"
    assert _nothing_changed(objects)

    client.force_login(grant(olga, permission))
    with django_capture_on_commit_callbacks(execute=False):
        allowed = client.post(url, data)
    assert allowed.status_code == 302, "the same request passes once the permission is granted"


@pytest.mark.django_db
def test_moderation_queue_is_read_only_without_the_decide_permission(client, olga, held_comment):
    client.force_login(olga)
    page = client.get("/dashboard/moderation/").content.decode()
    assert "held for a moderator" in page
    assert ">Approve</button>" not in page and "Approve selected" not in page and 'name="selected"' not in page
    assert "You can read the queue. Deciding comments needs the permission" in page
    client.force_login(grant(olga, DECIDE))
    page = client.get("/dashboard/moderation/").content.decode()
    assert "Approve selected" in page and ">Approve</button>" in page and 'name="selected"' in page
    assert "Deciding comments needs the permission" not in page


@pytest.mark.django_db
def test_outbox_is_read_only_without_the_resend_permission(client, olga, failed_email):
    client.force_login(olga)
    page = client.get("/dashboard/outbox/").content.decode()
    assert "Failed: SMTPServerDisconnected: gone" in page
    assert "Send again" not in page
    assert "Sending a failed email again needs the permission" in page
    client.force_login(grant(olga, RESEND))
    page = client.get("/dashboard/outbox/").content.decode()
    assert "Send again" in page and "Sending a failed email again needs" not in page


@pytest.mark.django_db
def test_dashboard_home_hides_the_demo_job_form_without_the_start_permission(client, olga):
    client.force_login(olga)
    page = client.get("/dashboard/").content.decode()
    assert "Start demo job" not in page
    assert "Starting the demo job needs the permission “Can start the demo job”." in page
    client.force_login(grant(olga, START))
    assert "Start demo job" in client.get("/dashboard/").content.decode()


@pytest.mark.django_db
def test_superusers_hold_every_named_permission(client, django_user_model, held_comment):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(root)
    assert ">Approve</button>" in client.get("/dashboard/moderation/").content.decode()
    response = client.post(f"/dashboard/moderation/{held_comment.pk}/decide/", {"action": "approve", "status": "held"})
    assert response.status_code == 302
    assert Comment.objects.get(pk=held_comment.pk).status == "approved"


@pytest.mark.browser
@pytest.mark.live
def test_an_htmx_refusal_shows_its_message_on_the_page(page, daphne_server, transactional_db, alice, bob):
    from playwright.sync_api import expect

    grant(alice, DECIDE)
    comment = make_comment(make_post(alice), bob, body="held for a moderator")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/moderation/")
    # The socket's snapshot redraws the rows once connected: the click must come after it.
    expect(page.locator("#moderation-queue.live.connected")).to_be_visible()
    row = page.locator(f"#comment-row-{comment.pk}")
    row.wait_for()
    # The permission goes after the page was rendered with its buttons (quietly: a delete on the
    # through table sends no m2m_changed, so the open socket does not reconnect and redraw the rows).
    get_user_model().user_permissions.through.objects.filter(user_id=alice.pk).delete()
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#refusals .refusal")).to_have_text(REFUSALS["decide one comment"][2])
    expect(row).to_be_visible()  # the page stays as it was, the message above it
    assert Comment.objects.get(pk=comment.pk).status == "held"


# --- the upgrade -------------------------------------------------------------------------------

BEFORE = [("dashboard", "0005_launch_runtime")]
AFTER = [("dashboard", "0007_grant_named_permissions_to_staff")]


def test_upgrade_grants_the_new_permissions_to_existing_staff_only(transactional_db):
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        # As on a database that never had them: the permissions and their model are created by the
        # upgrade itself, before anything could grant them.
        Permission.objects.filter(content_type__app_label="dashboard", content_type__model="namedpermission").delete()
        ContentType.objects.filter(app_label="dashboard", model="namedpermission").delete()
        staff, member = make_user("steph", staff=True), make_user("mel")
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    staff, member = (get_user_model().objects.get(pk=user.pk) for user in (staff, member))
    assert all(staff.has_perm(name) for name in (DECIDE, RESEND, START))
    assert not any(member.has_perm(name) for name in (DECIDE, RESEND, START))
    assert not staff.has_perm("dashboard.act_on_tasks"), "only what staff could do before is granted"
