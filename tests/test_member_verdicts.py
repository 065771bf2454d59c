"""A member sees every waiting state of their own comment (pending, held, spam) as "awaiting
moderation": on the post page, in its HTML, and in their data export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from blog.models import Comment
from dashboard.exports.models import Export
from dashboard.exports.services import export_write
from tests.blog_helpers import make_post
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
WAITING = (Comment.Status.PENDING, Comment.Status.HELD, Comment.Status.SPAM)


def test_the_author_cannot_tell_spam_from_held_or_pending_on_the_page(client):
    alice, bob = make_user("alice", staff=True), make_user("bob")
    post = make_post(alice)
    comments = [Comment.objects.create(post=post, author=bob, body=f"words {status}", status=status)
                for status in WAITING]
    client.force_login(bob)
    html = client.get(post.get_absolute_url()).content.decode()
    for comment in comments:
        assert f'id="comment-{comment.pk}" class="comment awaiting" data-status="awaiting moderation"' in html
    for word in ("spam", "held", "pending"):
        assert f'data-status="{word}"' not in html


def test_the_member_data_export_says_awaiting_moderation_for_every_waiting_state():
    alice, bob = make_user("alice", staff=True), make_user("bob")
    post = make_post(alice)
    for status in (*WAITING, Comment.Status.APPROVED):
        Comment.objects.create(post=post, author=bob, body=f"words {status}", status=status)
    export = Export.objects.create(owner=bob, kind=Export.Kind.MEMBER_DATA, params={}, task_id="t-verdicts",
                                   expires_at=timezone.now() + timedelta(hours=1))
    export_write(export_id=export.pk, progress=lambda current, total, message: None)
    export.refresh_from_db()
    with default_storage.open(export.file.name, "rb") as handle:
        data = json.loads(handle.read().decode())
    statuses = {comment["body"]: comment["status"] for comment in data["comments"]}
    assert statuses == {"words pending": "awaiting moderation", "words held": "awaiting moderation",
                        "words spam": "awaiting moderation", "words approved": "approved"}
