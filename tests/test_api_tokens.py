"""API tokens end when the owner's password changes, by any path (page, reset, admin, shell), as
Django's sessions do; they may expire; creating one asks for the password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from dashboard.api.tokens import api_token_create
from dashboard.models import ApiToken
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-brand-new-password-42"


def _me(token: str) -> int:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/me/").status_code


def _created(client, **fields):
    return client.post("/accounts/tokens/", {"name": "script", "expires_in_days": "", **fields})


def test_creating_a_token_asks_for_the_password(client):
    bob = make_user("bob")
    client.force_login(bob)
    refused = _created(client, password="not-my-password")
    assert refused.status_code == 400 and "That is not your password." in refused.content.decode()
    assert _created(client).status_code == 400  # no password at all
    assert not ApiToken.objects.exists()
    made = _created(client, password=PASSWORD)
    assert made.status_code == 200 and _me(made.context["created"]["token"]) == 200


def test_a_token_stops_when_the_owner_changes_the_password_on_the_page(client):
    bob = make_user("bob")
    _row, token = api_token_create(user=bob, name="script")
    assert _me(token) == 200
    client.force_login(bob)
    changed = client.post("/accounts/password_change/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                                         "new_password2": NEW_PASSWORD})
    assert changed.status_code == 302
    assert _me(token) == 401
    page = client.get("/accounts/tokens/").content.decode()
    assert "ended: your password changed" in page


def test_a_token_stops_after_a_password_reset(client):
    bob = make_user("bob")
    _row, token = api_token_create(user=bob, name="script")
    uid, key = urlsafe_base64_encode(force_bytes(bob.pk)), default_token_generator.make_token(bob)
    form_url = client.get(f"/accounts/reset/{uid}/{key}/")["Location"]
    assert client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code == 302
    assert _me(token) == 401


def test_a_token_stops_after_the_admin_or_a_shell_sets_a_password(client, django_user_model):
    bob = make_user("bob")
    _row, first = api_token_create(user=bob, name="one")
    _row, second = api_token_create(user=bob, name="two")
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    assert client.post(f"/admin/auth/user/{bob.pk}/password/", {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}).status_code == 302
    assert _me(first) == 401
    bob.refresh_from_db()
    _row, third = api_token_create(user=bob, name="three")
    assert _me(third) == 200
    bob.set_password("shell-typed-password-7")  # manage.py shell / changepassword
    bob.save()
    assert _me(third) == 401 and _me(second) == 401


def test_a_token_may_expire(client):
    bob = make_user("bob")
    row, token = api_token_create(user=bob, name="short", expires_in_days=30)
    assert _me(token) == 200
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _me(token) == 401
    client.force_login(bob)
    assert "expired" in client.get("/accounts/tokens/").content.decode()
