"""Helpers shared by the blog, moderation and email tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from blog.models import Comment, Post, Profile


def forget_rate_limits() -> None:
    """Delete the blog's rate-limit keys only (its cool-downs in the cache, the comment counters of
    site_config/machinery/rate_limit.py): the cache shares Redis with Celery and Channels, so
    cache.clear() (FLUSHDB) would also wipe the broker's queues."""
    client = cache._cache.get_client(write=True)
    for pattern in ("*blog:*", "site:rate:COMMENT_RATE_LIMIT_PER_MINUTE:*"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    forget_rate_limits()
    yield


def verify(user):
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.email_verified_at = timezone.now()
    profile.save()
    return user


def make_post(author, *, slug="hello", title="Hello world", body="First post.", status="published"):
    return Post.objects.create(
        title=title, slug=slug, body=body, author=author, status=status,
        published_at=timezone.now() if status == "published" else None,
    )


def make_comment(post, author, *, body="Nice post.", status="held", score=2.5, reasons=None, age=timedelta(0)):
    comment = Comment.objects.create(post=post, author=author, body=body, status=status, score=score,
                                     reasons=reasons or ["1 link"])
    if age:
        Comment.objects.filter(pk=comment.pk).update(created_at=timezone.now() - age)
    return comment
