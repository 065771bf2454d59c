"""Public blog pages and comments: visibility, HTMX and plain POST, rate limit, XSS, moderation outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blog.models import Comment, ModerationDecision, OutboundEmail
from blog.services import comments
from tests.blog_helpers import _fresh_rate_limits, make_comment, make_post, verify  # noqa: F401

pytestmark = pytest.mark.django_db
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_post_list_is_paginated_newest_first_and_hides_drafts(client, alice, settings):
    settings.BLOG_POSTS_PER_PAGE = 2
    for number in range(3):
        make_post(alice, slug=f"p{number}", title=f"Post {number}")
    make_post(alice, slug="draft", title="Secret draft", status="draft")
    page = client.get("/blog/").content.decode()
    assert page.index("Post 2") < page.index("Post 1")
    assert "Post 0" not in page and "Secret draft" not in page
    assert "Post 0" in client.get("/blog/?page=2").content.decode()
    assert client.get("/blog/draft/").status_code == 404


def test_only_the_author_sees_their_comment_awaiting_moderation(client, alice, bob, charlie):
    post = make_post(alice)
    make_comment(post, bob, body="Held comment by bob", status="held")
    make_comment(post, charlie, body="Approved by charlie", status="approved")
    anonymous = client.get(post.get_absolute_url()).content.decode()
    assert "Approved by charlie" in anonymous and "Held comment by bob" not in anonymous
    client.force_login(bob)
    own = client.get(post.get_absolute_url()).content.decode()
    assert "Held comment by bob" in own and "awaiting moderation" in own
    client.force_login(charlie)
    assert "Held comment by bob" not in client.get(post.get_absolute_url()).content.decode()


def test_unverified_member_cannot_comment(client, alice, bob):
    post = make_post(alice)
    client.force_login(bob)
    page = client.get(post.get_absolute_url()).content.decode()
    assert "Please confirm your email address to comment" in page
    response = client.post(f"/blog/{post.slug}/comments/", {"body": "let me in"})
    assert response.status_code == 403
    assert not Comment.objects.exists()


def test_anonymous_post_is_sent_to_login(client, alice):
    post = make_post(alice)
    response = client.post(f"/blog/{post.slug}/comments/", {"body": "hi"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_plain_post_saves_pending_comment_queues_moderation_and_redirects(
        client, alice, bob, django_capture_on_commit_callbacks):
    post = make_post(alice)
    client.force_login(verify(bob))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/blog/{post.slug}/comments/", {"body": "Great read"})
    comment = Comment.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#comment-{comment.pk}")
    assert comment.status == "pending"
    assert len(callbacks) == 1


def test_htmx_post_shows_field_errors_in_place(client, alice, bob):
    post = make_post(alice)
    client.force_login(verify(bob))
    response = client.post(f"/blog/{post.slug}/comments/", {"body": "   "}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="comment-form">')
    assert "This field is required." in html  # the form strips the spaces: nothing is left
    assert not Comment.objects.exists()


def test_htmx_post_returns_fresh_form_and_the_new_comment(client, alice, bob):
    post = make_post(alice)
    client.force_login(verify(bob))
    html = client.post(f"/blog/{post.slug}/comments/", {"body": "Hello there"}, HTTP_HX_REQUEST="true").content.decode()
    comment = Comment.objects.get()
    assert 'hx-swap-oob="beforeend:#comments"' in html
    assert f'id="comment-{comment.pk}"' in html and "awaiting moderation" in html


def test_rate_limit_refuses_beyond_the_setting_with_a_clear_message(client, alice, bob, settings):
    settings.COMMENT_RATE_LIMIT_PER_MINUTE = 2
    post = make_post(alice)
    client.force_login(verify(bob))
    for number in range(2):
        assert client.post(f"/blog/{post.slug}/comments/", {"body": f"comment {number}"}).status_code == 302
    refused = client.post(f"/blog/{post.slug}/comments/", {"body": "one too many"})
    assert refused.status_code == 429
    assert "at most 2 comments a minute" in refused.content.decode()
    assert Comment.objects.count() == 2


def test_double_submit_saves_the_comment_once(client, alice, bob):
    post = make_post(alice)
    client.force_login(verify(bob))
    client.post(f"/blog/{post.slug}/comments/", {"body": "Same words"})
    client.post(f"/blog/{post.slug}/comments/", {"body": "Same words"})
    assert Comment.objects.count() == 1


def test_xss_in_comments_renders_inert(client, alice, bob):
    post = make_post(alice, body=XSS)
    make_comment(post, bob, body=XSS, status="approved")
    html = client.get(post.get_absolute_url()).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    client.force_login(alice)
    queue = client.get("/dashboard/moderation/?status=approved").content.decode()
    assert "<script>alert" not in queue and "&lt;script&gt;" in queue


@pytest.mark.parametrize(("body", "expected"), [
    ("Thanks for the clear explanation.", "approved"),
    ("Look at https://a.example and https://b.example", "held"),
    ("FREE MONEY at the CASINO!!! https://spam.example", "spam"),
])
def test_automatic_moderation_sets_status_score_reasons_and_audit(alice, bob, body, expected):
    post = make_post(alice)
    comment = make_comment(post, verify(bob), body=body, status="pending", score=None, reasons=[])
    assert comments.comment_moderate_automatically(comment_id=comment.pk) == expected
    comment.refresh_from_db()
    assert comment.status == expected
    assert comment.score is not None
    decision = ModerationDecision.objects.get(comment=comment)
    assert (decision.moderator, decision.previous_status, decision.new_status) == (None, "pending", expected)
    # Post author hears about approved comments only.
    assert OutboundEmail.objects.filter(kind="comment_approved").count() == (1 if expected == "approved" else 0)
    # Running twice changes nothing.
    assert comments.comment_moderate_automatically(comment_id=comment.pk) is None
    assert ModerationDecision.objects.filter(comment=comment).count() == 1


# --- comments come in pages ---

def _bodies(html: str) -> list[str]:
    import re

    return re.findall(r'<div class="comment-body">([^<]*)</div>', html)


def test_comments_are_paged_oldest_first_and_more_is_a_plain_link(client, alice, bob, settings):
    settings.BLOG_COMMENTS_PER_PAGE = 3
    post = make_post(alice)
    made = [make_comment(post, bob, body=f"comment {n}", status="approved") for n in range(7)]
    # One older comment created last: the order is by time, then id.
    make_comment(post, bob, body="comment early", status="approved", age=timedelta(days=1))
    first = client.get(post.get_absolute_url()).content.decode()
    assert _bodies(first) == ["comment early", "comment 0", "comment 1"]
    assert f'href="?after={made[1].pk}#comments"' in first
    second = client.get(post.get_absolute_url(), {"after": made[1].pk}).content.decode()
    assert _bodies(second) == ["comment 2", "comment 3", "comment 4"]
    assert "First comments" in second and f'href="?after={made[4].pk}#comments"' in second
    last = client.get(post.get_absolute_url(), {"after": made[4].pk}).content.decode()
    assert _bodies(last) == ["comment 5", "comment 6"] and "rel=\"next\"" not in last


def test_more_comments_over_htmx_appends_the_next_page(client, alice, bob, settings):
    settings.BLOG_COMMENTS_PER_PAGE = 2
    post = make_post(alice)
    made = [make_comment(post, bob, body=f"comment {n}", status="approved") for n in range(5)]
    response = client.get(post.get_absolute_url(), {"after": made[1].pk}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and _bodies(html) == ["comment 2", "comment 3"]
    assert 'id="comments-more"' in html and 'hx-swap-oob="true"' in html
    assert f'hx-get="?after={made[3].pk}"' in html and 'hx-swap="beforeend"' in html
    assert "HX-Request" in response["Vary"]


def test_a_page_of_comments_costs_the_same_queries_however_deep(client, alice, bob, settings,
                                                                 django_assert_num_queries):
    settings.BLOG_COMMENTS_PER_PAGE = 2
    post = make_post(alice)
    made = [make_comment(post, bob, body=f"comment {n}", status="approved") for n in range(9)]
    client.get(post.get_absolute_url())  # session etc. warmed
    with django_assert_num_queries(3):  # the post, the anchor's time, the page
        client.get(post.get_absolute_url(), {"after": made[6].pk})
