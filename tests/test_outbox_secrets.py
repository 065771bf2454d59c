"""Emails that hold a one-time account link: read by superusers only, in the admin too; the outbox
admin is a read-only record that filters on its offered filters only; secret bodies are blanked once
sent or failed for good."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core import mail

from blog.models import OutboundEmail
from blog.services import outbox
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
RESET_BODY = "Reset: http://testserver/accounts/reset/MQ/secret-token/"
ADMIN = "/admin/blog/outboundemail/"


@pytest.fixture
def blog_admin(db):
    """Staff holding every permission of the blog app: the most a non-superuser can be given."""
    user = make_user("blogadmin", staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="blog"))
    return user


@pytest.fixture
def root(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "x")


@pytest.fixture
def reset_email(db):
    return OutboundEmail.objects.create(to="root@example.com", subject="Password reset", kind="password_reset",
                                        body=RESET_BODY)


def test_staff_with_every_blog_permission_cannot_read_a_reset_link_in_the_admin(client, blog_admin, reset_email):
    client.force_login(blog_admin)
    listing = client.get(ADMIN)
    assert listing.status_code == 200 and "root@example.com" in listing.content.decode()
    page = client.get(f"{ADMIN}{reset_email.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "secret-token" not in html
    assert "only superusers can read it" in html
    assert "0 results" in client.get(ADMIN, {"q": "secret-token"}).content.decode(), "bodies are not searchable"


def test_superuser_reads_the_reset_link_in_the_admin(client, root, reset_email):
    client.force_login(root)
    assert "secret-token" in client.get(f"{ADMIN}{reset_email.pk}/change/").content.decode()


def test_nobody_can_readdress_add_or_delete_an_outbox_email_in_the_admin(client, blog_admin, root, reset_email):
    for user in (blog_admin, root):
        client.force_login(user)
        readdress = client.post(f"{ADMIN}{reset_email.pk}/change/", {
            "to": "attacker@example.com", "subject": "Password reset", "kind": "password_reset",
            "status": "queued", "attempts": 0, "body": RESET_BODY,
        })
        assert readdress.status_code == 403
        assert client.get(f"{ADMIN}add/").status_code == 403
        assert client.post(f"{ADMIN}{reset_email.pk}/delete/", {"post": "yes"}).status_code == 403
        bulk_delete = client.post(ADMIN, {"action": "delete_selected", "_selected_action": [reset_email.pk],
                                          "post": "yes"})
        assert bulk_delete.status_code in (200, 302)
    reset_email.refresh_from_db()
    assert reset_email.to == "root@example.com" and reset_email.body == RESET_BODY


def test_secret_bodies_are_blanked_once_sent_and_other_bodies_kept(db):
    reset = OutboundEmail.objects.create(to="root@example.com", subject="Reset", kind="password_reset", body=RESET_BODY)
    notice = OutboundEmail.objects.create(to="alice@example.com", subject="New comment", kind="comment_approved",
                                          body="Read it here: http://testserver/blog/hello/")
    assert outbox.email_send(email_id=reset.pk) == "sent"
    assert outbox.email_send(email_id=notice.pk) == "sent"
    reset.refresh_from_db()
    notice.refresh_from_db()
    assert (reset.status, reset.body) == ("sent", "")
    assert notice.body == "Read it here: http://testserver/blog/hello/"
    assert "secret-token" in mail.outbox[0].body, "the owner got the link before it was blanked"
    assert outbox.email_send(email_id=reset.pk) == "skipped"
    assert len(mail.outbox) == 2


def test_a_secret_email_keeps_its_body_while_it_may_be_retried_and_loses_it_when_it_fails_for_good(
        client, db, settings, root):
    from site_config.devtools.local_redis import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_SEND_MAX_ATTEMPTS = 2
    reset = OutboundEmail.objects.create(to="root@example.com", subject="Reset", kind="password_reset", body=RESET_BODY)
    outbox.email_send(email_id=reset.pk)  # refused connection: transient, one attempt left
    reset.refresh_from_db()
    assert (reset.status, reset.body) == ("queued", RESET_BODY)
    with pytest.raises(outbox.EmailDeliveryFailed):
        outbox.email_send(email_id=reset.pk)
    reset.refresh_from_db()
    assert (reset.status, reset.body) == ("failed", "")
    assert outbox.email_requeue_failed(email_id=reset.pk) is False  # nothing left to send
    client.force_login(root)
    page = client.get("/dashboard/outbox/").content.decode()
    assert "it was blanked once it failed for good, so it cannot be sent again" in page
    assert f"/dashboard/outbox/{reset.pk}/retry/" not in page


def test_staff_who_may_view_emails_cannot_filter_them_by_body(client, db, reset_email):
    viewer = make_user("vera", staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboundemail"))
    client.force_login(viewer)
    assert client.get(f"{ADMIN}?body__contains=secret-token").status_code == 400
    assert client.get(f"{ADMIN}?body__contains=no-such-thing").status_code == 400
    assert client.get(f"{ADMIN}?body__startswith=Reset").status_code == 400
    assert client.get(f"{ADMIN}?status__exact=queued").status_code == 200  # the offered filters work
    assert client.get(f"{ADMIN}?kind__exact=password_reset").status_code == 200
