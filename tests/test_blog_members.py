"""Sign-up, email verification links, resend rate limit, password reset through the outbox, purge."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone

from blog.models import Comment, OutboundEmail, Post, Profile
from blog.services import members
from tests.blog_helpers import _fresh_rate_limits, forget_rate_limits, make_post, verify  # noqa: F401
from tests.conftest import PASSWORD, make_user

User = get_user_model()
pytestmark = pytest.mark.django_db
LINK = re.compile(re.escape(settings.SITE_URL) + r"(/accounts/verify/[^/\s]+/)")
CSRF_TOKEN = re.compile(r"[A-Za-z0-9]{64}")


def _signup(client, username="dora", email="dora@example.com", **headers):
    return client.post("/accounts/signup/", {
        "username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD,
    }, **headers)


def _page_without_tokens(response, address: str) -> str:
    """The page as a reader compares it: the address typed in and the per-render tokens (CSRF, the
    Content-Security-Policy nonce, the signed name of the email the page follows) aside."""
    page = CSRF_TOKEN.sub("TOKEN", response.content.decode().replace(address, "ADDRESS"))
    page = re.sub(r'nonce="[^"]+"', 'nonce="NONCE"', page)
    return re.sub(r"\?e=[\w%.:-]+", "?e=EMAIL", page)


def _link_in_latest_email(to="dora@example.com") -> str:
    email = OutboundEmail.objects.filter(to=to, kind="verification").latest("created_at")
    return LINK.search(email.body).group(1)


def test_signup_creates_unverified_member_and_queues_verification_email(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _signup(client)
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    user = User.objects.get(username="dora")
    assert user.profile.email_verified_at is None
    email = OutboundEmail.objects.get(to="dora@example.com")
    assert email.kind == "verification" and email.status == "queued"
    assert len(callbacks) == 1, "the send task is queued after commit"
    assert not members.member_is_verified(user=user)


def test_signup_enforces_django_password_validators_and_says_when_a_username_is_taken(client, bob):
    response = client.post("/accounts/signup/", {
        "username": "bob", "email": "new@example.com", "password1": "123", "password2": "123",
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "A user with that username already exists." in page
    assert "This password is too short" in page
    assert not User.objects.filter(email="new@example.com").exists()
    assert not OutboundEmail.objects.exists()


def test_signup_answers_a_registered_address_as_it_answers_a_new_one_and_tells_its_owner(client, bob):
    new = _signup(client, username="dora", email="dora@example.com")
    taken = _signup(client, username="eve", email="BOB@example.com")
    assert (new.status_code, taken.status_code) == (200, 200)
    assert _page_without_tokens(new, "dora@example.com") == _page_without_tokens(taken, "BOB@example.com")
    assert settings.SESSION_COOKIE_NAME not in new.cookies and settings.SESSION_COOKIE_NAME not in taken.cookies
    assert not User.objects.filter(username="eve").exists()
    notice = OutboundEmail.objects.get(kind="signup_attempt")
    assert notice.to == "bob@example.com"
    assert "Someone tried to sign up" in notice.body
    assert f"{settings.SITE_URL}/accounts/password_reset/" in notice.body
    assert OutboundEmail.objects.filter(to="dora@example.com", kind="verification").exists()
    _signup(client, username="eve", email="bob@example.com")  # again at once: no second notice
    assert OutboundEmail.objects.filter(kind="signup_attempt").count() == 1


def test_opening_the_link_does_not_verify_and_the_confirm_button_does_once(client):
    _signup(client)
    link = _link_in_latest_email()
    opened = client.get(link)
    assert opened.status_code == 200
    page = opened.content.decode()
    assert "Confirm my email" in page and f'action="{link}"' in page
    assert Profile.objects.get(user__username="dora").email_verified_at is None, "opening the link verified"
    first = client.post(link)
    assert first.status_code == 200 and "Email confirmed" in first.content.decode()
    assert Profile.objects.get(user__username="dora").email_verified_at is not None
    for again in (client.post(link), client.get(link)):
        assert again.status_code == 410
        assert "This link was already used" in again.content.decode()
        assert "Confirm my email" not in again.content.decode()


def test_expired_link_gets_a_clear_page(client, settings):
    _signup(client)
    link = _link_in_latest_email()
    settings.VERIFICATION_LINK_MAX_AGE_SECONDS = -1
    for response in (client.get(link), client.post(link)):
        assert response.status_code == 400
        assert "This link has expired" in response.content.decode()
    assert Profile.objects.get(user__username="dora").email_verified_at is None


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda token: "garbage",
    lambda token: signing.TimestampSigner(salt="other").sign_object({"user": 1, "email": "x@example.com"}),
])
def test_tampered_link_gets_a_clear_page(client, mangle):
    _signup(client)
    token = _link_in_latest_email().split("/")[-2]
    link = f"/accounts/verify/{mangle(token)}/"
    for response in (client.get(link), client.post(link)):
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    assert Profile.objects.get(user__username="dora").email_verified_at is None


def test_link_stops_working_when_the_email_address_changes(client):
    _signup(client)
    link = _link_in_latest_email()
    User.objects.filter(username="dora").update(email="new@example.com")
    assert client.post(link).status_code == 400
    assert Profile.objects.get(user__username="dora").email_verified_at is None


def test_resend_is_rate_limited(client):
    _signup(client)
    assert OutboundEmail.objects.count() == 1
    assert client.login(username="dora", password=PASSWORD)
    first = client.post("/accounts/verify/resend/", {"next": "/blog/"}, follow=True)
    assert "A new confirmation link is on its way" in first.content.decode()
    second = client.post("/accounts/verify/resend/", {"next": "/blog/"}, follow=True)
    assert "Please wait before asking again" in second.content.decode()
    assert OutboundEmail.objects.filter(kind="verification").count() == 2


def test_links_in_emails_come_from_site_url_never_from_the_host_header(client, bob, settings):
    settings.SITE_URL = "https://blog.example"
    settings.ALLOWED_HOSTS = ["testserver", "forged.example"]
    _signup(client, username="dora", email="dora@example.com", HTTP_HOST="forged.example")
    assert client.login(username="dora", password=PASSWORD)
    forget_rate_limits()
    client.post("/accounts/verify/resend/", {"next": "/blog/"}, HTTP_HOST="forged.example")
    client.logout()
    client.post("/accounts/password_reset/", {"email": "bob@example.com"}, HTTP_HOST="forged.example")
    emails = list(OutboundEmail.objects.order_by("pk").values_list("kind", "body"))
    assert [kind for kind, _ in emails] == ["verification", "verification", "password_reset"]
    for kind, body in emails:
        assert "forged.example" not in body
        assert ("https://blog.example/accounts/verify/" if kind == "verification"
                else "https://blog.example/accounts/reset/") in body


def test_password_reset_email_goes_through_the_outbox(client, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/accounts/password_reset/", {"email": "bob@example.com"})
    assert response.status_code == 302
    email = OutboundEmail.objects.get(kind="password_reset")
    assert email.to == "bob@example.com" and "/accounts/reset/" in email.body
    assert len(callbacks) == 1
    from django.core import mail
    assert mail.outbox == [], "nothing is sent inside the request"


# --- purge of members who never verified (a scheduled job; the blog owns it) ---

def _member(username, *, days_ago, verified=False, staff=False):
    user = make_user(username, staff=staff)
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - days_ago)
    Profile.objects.create(user=user, email_verified_at=timezone.now() if verified else None)
    return user


def test_purge_removes_only_old_unverified_members_without_content(db, alice):
    _member("old", days_ago=timedelta(days=7, minutes=1))
    _member("young", days_ago=timedelta(days=6, hours=23, minutes=59))
    _member("verified", days_ago=timedelta(days=30), verified=True)
    _member("staffer", days_ago=timedelta(days=30), staff=True)
    with_comment = _member("commenter", days_ago=timedelta(days=30))
    with_post = _member("poster", days_ago=timedelta(days=30))
    post = make_post(with_post)
    Comment.objects.create(post=post, author=with_comment, body="hi")
    no_profile = make_user("legacy")
    User.objects.filter(pk=no_profile.pk).update(date_joined=timezone.now() - timedelta(days=30))

    assert members.member_purge_unverified(older_than_days=7) == 1

    remaining = set(User.objects.values_list("username", flat=True))
    assert "old" not in remaining
    assert {"young", "verified", "staffer", "commenter", "poster", "legacy", "alice"} <= remaining
    assert Post.objects.filter(pk=post.pk).exists()


def test_purge_task_uses_the_setting_and_returns_the_count(db, settings):
    from blog.tasks import purge_unverified_members_task

    settings.MEMBER_PURGE_UNVERIFIED_DAYS = 3
    _member("gone", days_ago=timedelta(days=3, seconds=5))
    _member("stays", days_ago=timedelta(days=2))
    assert purge_unverified_members_task.apply().get() == 1
    assert list(User.objects.values_list("username", flat=True)) == ["stays"]


def test_default_schedules_are_declared(settings):
    assert settings.PERIODIC_TASKS["purge-unverified-members"]["task"] == "blog.tasks.purge_unverified_members_task"
    sweep = settings.PERIODIC_TASKS["requeue-unsent-emails"]
    assert (sweep["task"], sweep["every_seconds"]) == ("blog.tasks.email_sweep_task", 60)  # what is due, every minute
