"""Comments through the real worker, the live moderation queue over real websockets, and Chromium."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from blog.models import Comment, OutboundEmail
from blog.services import comments
from dashboard.tasks import demo_job_task
from tests.blog_helpers import _fresh_rate_limits, make_comment, make_post, verify  # noqa: F401
from tests.conftest import browser_login, grant, make_user, session_cookie
from tests.livetools import state_of, wait_for, ws_connect

pytestmark = pytest.mark.live
HELD_TEXT = "Compare https://one.example and https://two.example please"


def _status(pk):
    return Comment.objects.get(pk=pk).status


def test_worker_scores_each_comment_and_mails_the_post_author(live_worker, alice, bob):
    post = make_post(alice)
    verify(bob)
    approved = comments.comment_create(post=post, author=bob, body="Thanks, very clear.")
    held = comments.comment_create(post=post, author=bob, body=HELD_TEXT)
    spam = comments.comment_create(post=post, author=bob, body="FREE MONEY CASINO https://x.example")
    assert {approved.status, held.status, spam.status} == {"pending"}
    wait_for(lambda: [_status(c.pk) for c in (approved, held, spam)] == ["approved", "held", "spam"], timeout=30)
    assert "2 links" in Comment.objects.get(pk=held.pk).reasons
    mail = wait_for(lambda: OutboundEmail.objects.filter(kind="comment_approved", status="sent").first(), timeout=30)
    assert mail.to == "alice@example.com" and "Thanks, very clear." in mail.body  # to the post's author
    assert OutboundEmail.objects.filter(kind="comment_approved").count() == 1  # held and spam: no mail


def test_signed_in_member_is_refused_the_moderation_socket_for_not_being_staff(daphne_server, transactional_db, bob):
    # transactional_db: bob and his session are committed, so daphne (another process) finds them.
    cookie = session_cookie(bob)
    own_task = demo_job_task.apply_async((1, 0), queue="parked", headers={"launched_by": bob.pk})
    # Through the same auth stack, the same cookie opens a socket only bob may open: daphne sees bob,
    # not an anonymous visitor (who is refused this one too).
    with ws_connect(daphne_server, f"/ws/tasks/{own_task.id}/", cookie) as ws:
        assert state_of(ws.recv(timeout=5)) == "PENDING"
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{own_task.id}/")

    with pytest.raises(InvalidStatus) as refused:
        ws_connect(daphne_server, "/ws/moderation/", cookie)
    assert refused.value.response.status_code == 403

    # Staff status is the only thing missing: made staff, the very same session is let in.
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    with ws_connect(daphne_server, "/ws/moderation/", cookie) as ws:
        assert 'id="moderation-rows"' in ws.recv(timeout=10)


def test_anonymous_visitor_is_refused_the_moderation_socket(daphne_server, transactional_db):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(daphne_server, "/ws/moderation/")
    assert refused.value.response.status_code == 403


def test_open_queues_get_new_held_comments_and_lose_decided_ones(live_worker, daphne_server, alice, bob):
    post = make_post(alice)
    verify(bob)
    with ws_connect(daphne_server, "/ws/moderation/", session_cookie(alice)) as ws:
        snapshot = ws.recv(timeout=10)
        assert 'id="moderation-rows"' in snapshot
        comment = comments.comment_create(post=post, author=bob, body=HELD_TEXT)
        added = ws.recv(timeout=20)
        assert f'id="comment-row-{comment.pk}"' in added and 'hx-swap-oob="beforeend:#moderation-rows"' in added
        comments.comment_decide(comment_id=comment.pk, moderator=alice, new_status="approved", expected_status="held")
        removed = ws.recv(timeout=10)
        assert f'id="comment-row-{comment.pk}" hx-swap-oob="delete"' in removed


def test_staff_who_may_not_decide_get_the_queue_live_without_decide_buttons(
        daphne_server, transactional_db, alice, bob):
    post = make_post(alice)
    waiting = make_comment(post, bob, body="waiting since before")
    mona = grant(make_user("mona", staff=True), "dashboard.decide_comments")
    with ws_connect(daphne_server, "/ws/moderation/", session_cookie(alice)) as reader, \
            ws_connect(daphne_server, "/ws/moderation/", session_cookie(mona)) as decider:
        read_snapshot, decide_snapshot = reader.recv(timeout=10), decider.recv(timeout=10)
        assert f'id="comment-row-{waiting.pk}"' in read_snapshot and f'id="comment-row-{waiting.pk}"' in decide_snapshot
        assert ">Approve</button>" not in read_snapshot and 'name="selected"' not in read_snapshot
        assert ">Approve</button>" in decide_snapshot
        comment = Comment.objects.create(post=post, author=bob, body=HELD_TEXT)
        assert comments.comment_moderate_automatically(comment_id=comment.pk) == "held"
        read_row, decide_row = reader.recv(timeout=20), decider.recv(timeout=20)
    assert f'id="comment-row-{comment.pk}"' in read_row and f'id="comment-row-{comment.pk}"' in decide_row
    assert ">Approve</button>" not in read_row
    assert ">Approve</button>" in decide_row


@pytest.mark.browser
def test_moderator_with_open_queue_sees_held_comment_appear_and_approves_it(
        live_worker, daphne_server, browser, page, alice, bob):
    grant(alice, "dashboard.decide_comments")
    post = make_post(alice, title="Live moderation")
    verify(bob)
    base = daphne_server.url
    browser_login(page, base, "alice")
    page.goto(f"{base}/dashboard/moderation/")
    page.locator("#moderation-queue.connected").wait_for()

    member_context = browser.new_context()
    member = member_context.new_page()
    member.set_default_timeout(15_000)
    try:
        browser_login(member, base, "bob")
        member.goto(f"{base}{post.get_absolute_url()}")
        member.get_by_label("Your comment").fill(HELD_TEXT)
        member.get_by_role("button", name="Post comment").click()
        member.get_by_text("Your comment is awaiting moderation").wait_for()
        comment = Comment.objects.get(post=post)

        row = page.locator(f"#comment-row-{comment.pk}")
        row.wait_for()  # appeared without a reload
        assert "2 links" in row.inner_text()
        page.screenshot(path=str(daphne_server.log_path.parent / "moderation-queue.png"), full_page=True)
        row.get_by_role("button", name="Approve").click()
        row.wait_for(state="detached")
        assert _status(comment.pk) == "approved"

        member.reload()
        shown = member.locator(f"#comment-{comment.pk}")
        assert HELD_TEXT in shown.inner_text()
        assert "awaiting moderation" not in shown.inner_text()
    finally:
        member_context.close()
