"""Staff moderation queue: access, filters, decisions (single, bulk, concurrent), audit, query count."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.models import Comment, ModerationDecision, OutboundEmail
from blog.services import comments
from tests.blog_helpers import make_comment, make_post
from tests.conftest import grant

pytestmark = pytest.mark.django_db
QUEUE = "/dashboard/moderation/"
DECIDE = "dashboard.decide_comments"


@pytest.fixture
def held(alice, bob):
    post = make_post(alice)
    return [make_comment(post, bob, body=f"held {n}", age=timedelta(minutes=10 - n)) for n in range(3)]


@pytest.mark.parametrize(("method", "url"), [
    ("get", QUEUE), ("post", "/dashboard/moderation/bulk/"), ("post", "/dashboard/moderation/1/decide/"),
    ("get", "/dashboard/outbox/"), ("post", "/dashboard/outbox/1/retry/"),
])
def test_members_and_anonymous_cannot_reach_moderation_pages_or_posts(client, bob, held, method, url):
    response = getattr(client, method)(url, {"action": "approve", "selected": [held[0].pk]})
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(bob)
    response = getattr(client, method)(url, {"action": "approve", "selected": [held[0].pk]})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert Comment.objects.filter(status="held").count() == 3


def test_queue_lists_held_comments_oldest_first_with_score_and_reasons(client, alice, held):
    client.force_login(alice)
    html = client.get(QUEUE).content.decode()
    assert html.index("held 0") < html.index("held 1") < html.index("held 2")
    assert "1 link" in html and "2.5" in html
    assert 'ws-connect="/ws/moderation/"' in html


def test_queue_filters_by_status_and_post(client, alice, bob, held):
    other = make_post(alice, slug="other", title="Other post")
    make_comment(other, bob, body="spam on other", status="spam")
    client.force_login(alice)
    assert "spam on other" not in client.get(QUEUE).content.decode()
    spam = client.get(QUEUE, {"status": "spam"}).content.decode()
    assert "spam on other" in spam and "held 0" not in spam
    by_post = client.get(QUEUE, {"post": other.pk}).content.decode()
    assert "held 0" not in by_post


def test_htmx_decision_removes_the_row_and_records_who_and_when(client, alice, held):
    client.force_login(grant(alice, DECIDE))
    response = client.post(f"/dashboard/moderation/{held[0].pk}/decide/",
                           {"action": "approve", "status": "held"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    comment = Comment.objects.get(pk=held[0].pk)
    assert (comment.status, comment.moderated_by, comment.moderated_at is not None) == ("approved", alice, True)
    decision = ModerationDecision.objects.get(comment=comment)
    assert (decision.moderator, decision.previous_status, decision.new_status) == (alice, "held", "approved")
    # The post author (alice) wrote the post, bob commented: alice is told.
    assert OutboundEmail.objects.get(kind="comment_approved").to == "alice@example.com"


def test_second_moderator_loses_and_sees_who_decided(client, alice, held, django_user_model):
    carol = grant(django_user_model.objects.create_user("carol", "carol@example.com", "x", is_staff=True), DECIDE)
    first = comments.comment_decide(comment_id=held[0].pk, moderator=alice, new_status="rejected", expected_status="held")
    assert first.won and first.comment.status == "rejected"
    client.force_login(carol)
    response = client.post(f"/dashboard/moderation/{held[0].pk}/decide/",
                           {"action": "approve", "status": "held"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Already rejected by alice" in html
    assert Comment.objects.get(pk=held[0].pk).status == "rejected"
    assert ModerationDecision.objects.filter(comment=held[0]).count() == 1
    plain = client.post(f"/dashboard/moderation/{held[0].pk}/decide/", {"action": "spam", "status": "held"}, follow=True)
    assert "was already rejected by alice" in plain.content.decode()


class DecisionRace:
    """Two moderators' requests, each in its own thread (so its own database connection), released
    together by a barrier.

    A barrier alone only makes an overlap likely. So each request, inside its transaction and right
    after it has read the comment, waits until the other request has read it too or is waiting
    for a lock. With working locks the second one waits (PostgreSQL: for the row lock of SELECT ...
    FOR UPDATE, seen in pg_locks; SQLite: at BEGIN IMMEDIATE for the write lock, which it cannot get
    while the first transaction holds it), and reads the comment as the winner left it. Without
    them both read "held" before either writes, and both would win.
    """

    WAIT_LIMIT = 30.0

    def __init__(self, count: int = 2) -> None:
        self.barrier = threading.Barrier(count)
        self.read = [threading.Event() for _ in range(count)]
        self.pids: list[int | None] = [None] * count
        self.beginning: list[str | None] = [None] * count

    def run(self, index: int, request):
        try:
            connection.ensure_connection()
            if connection.vendor == "postgresql":
                self.pids[index] = connection.connection.info.backend_pid
            with connection.execute_wrapper(lambda *args: self._execute(index, *args)):
                self.barrier.wait(timeout=self.WAIT_LIMIT)
                return request()
        finally:
            connection.close()

    def _execute(self, index, execute, sql, params, many, context):
        begin = sql.lstrip().upper().startswith("BEGIN")
        if begin:
            self.beginning[index] = sql.strip().upper()
        try:
            result = execute(sql, params, many, context)
        finally:
            if begin:
                self.beginning[index] = None
        is_the_read = (context["connection"].in_atomic_block and '"blog_comment"' in sql
                       and sql.lstrip().upper().startswith("SELECT"))
        if is_the_read and not self.read[index].is_set():
            self.read[index].set()
            self._hold_until_the_other_reads_or_waits(index, context["connection"])
        return result

    def _hold_until_the_other_reads_or_waits(self, index, conn) -> None:
        other = 1 - index
        deadline = time.monotonic() + self.WAIT_LIMIT
        while not (self.read[other].is_set() or self._waits_for_a_lock(other, conn)):
            if time.monotonic() > deadline:
                raise AssertionError("the other decision neither read the comment nor waited for a lock")
            time.sleep(0.005)

    def _waits_for_a_lock(self, other: int, conn) -> bool:
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)",
                               [self.pids[other]])
                return cursor.fetchone()[0]
        return self.beginning[other] == "BEGIN IMMEDIATE"


def test_two_moderators_deciding_at_once_exactly_one_wins_and_the_other_is_told_who(
        transactional_db, alice, held, django_user_model):
    from tests.conftest import grant

    carol = grant(django_user_model.objects.create_user("carol", is_staff=True), "dashboard.decide_comments")
    alice = grant(alice, "dashboard.decide_comments")
    comment = held[1]
    moderators = [(alice, "reject", "rejected"), (carol, "spam", "spam")]
    clients = []
    for user, _, _ in moderators:
        client = Client()
        client.force_login(user)
        clients.append(client)
    race = DecisionRace()

    def decide(index):
        action = moderators[index][1]
        url = f"/dashboard/moderation/{comment.pk}/decide/"
        return race.run(index, lambda: clients[index].post(url, {"action": action, "status": "held"},
                                                           HTTP_HX_REQUEST="true"))

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(decide, range(2)))

    assert [r.status_code for r in responses] == [200, 200]
    winners = [i for i, r in enumerate(responses) if r.content == b""]  # the winner's row is removed
    assert len(winners) == 1, [r.content.decode()[:300] for r in responses]
    winner, loser = winners[0], 1 - winners[0]
    user, _, status = moderators[winner]
    told = responses[loser].content.decode()
    assert f"Already {status} by {user.username}" in told and 'class="conflict"' in told
    comment.refresh_from_db()
    assert (comment.status, comment.moderated_by) == (status, user)
    decisions = ModerationDecision.objects.filter(comment=comment)
    assert [(d.moderator, d.new_status) for d in decisions] == [(user, status)]


def test_bulk_approve_reports_what_was_already_decided(client, alice, held):
    comments.comment_decide(comment_id=held[2].pk, moderator=alice, new_status="spam", expected_status="held")
    client.force_login(grant(alice, DECIDE))
    response = client.post("/dashboard/moderation/bulk/",
                           {"action": "approve", "status": "held", "selected": [c.pk for c in held]}, follow=True)
    html = response.content.decode()
    assert "2 comments approved. 1 had already been decided by someone else." in html
    assert sorted(Comment.objects.values_list("status", flat=True)) == ["approved", "approved", "spam"]
    assert ModerationDecision.objects.filter(new_status="approved").count() == 2


def test_queue_page_query_count_does_not_grow_with_page_size(client, alice, bob, settings):
    post = make_post(alice)
    client.force_login(alice)
    counts = []
    for size in (5, 40):
        Comment.objects.all().delete()
        Comment.objects.bulk_create(Comment(post=post, author=bob, body=f"c{n}", status="held", reasons=["x"])
                                    for n in range(size))
        settings.MODERATION_QUEUE_PER_PAGE = size
        with CaptureQueriesContext(connection) as queries:
            assert client.get(QUEUE).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_outbox_shows_status_reason_and_a_clickable_body(client, alice):
    OutboundEmail.objects.create(to="x@example.com", subject="Hello", body="Read http://testserver/blog/first/",
                                 kind="comment_approved", status="failed", last_error="SMTPServerDisconnected: gone")
    client.force_login(alice)
    html = client.get("/dashboard/outbox/").content.decode()
    assert "Failed: SMTPServerDisconnected: gone" in html
    assert '<a href="http://testserver/blog/first/"' in html


def test_account_links_in_the_outbox_are_for_superusers_only(client, alice):
    OutboundEmail.objects.create(to="root@example.com", subject="Reset", kind="password_reset",
                                 body="Reset: http://testserver/accounts/reset/MQ/secret-token/")
    client.force_login(alice)  # staff, not superuser: could otherwise take over the superuser's account
    html = client.get("/dashboard/outbox/").content.decode()
    assert "secret-token" not in html and "only superusers can read it" in html
    alice.is_superuser = True
    alice.save()
    assert "secret-token" in client.get("/dashboard/outbox/").content.decode()
