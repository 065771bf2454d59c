"""Log-in and password-reset throttles that a guesser cannot turn against the owner: failures count
per account and address, a browser that logged in before keeps its own allowance (device cookie),
and the per-email reset cap is quiet. Counters in the session's real Redis."""

from __future__ import annotations

import pytest
from django.test import Client

from blog.models import OutboundEmail
from site_config.machinery.throttles import DEVICE_COOKIE
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
GUESSER, OWNER, ELSEWHERE = "203.0.113.66", "198.51.100.7", "192.0.2.40"


@pytest.fixture
def root(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    return user


def _login(client, username, password, address, url="/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_fifteen_wrong_passwords_from_one_address_do_not_lock_the_owner_out(root, settings):
    guesser, owner = Client(), Client()
    statuses = [_login(guesser, "root", f"wrong-{i}", GUESSER).status_code for i in range(15)]
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}  # the guesser is slowed down
    refused = _login(guesser, "root", PASSWORD, GUESSER)
    assert refused.status_code == 429  # even the right password, from the guesser's address
    assert "Too many failed log-ins for this account from your network." in refused.content.decode()
    assert _login(owner, "root", PASSWORD, OWNER).status_code == 302
    assert _login(Client(), "root", PASSWORD, ELSEWHERE, url="/admin/login/?next=/admin/").status_code == 302


def test_a_browser_that_logged_in_before_keeps_its_allowance_when_strangers_use_up_the_accounts(root, settings):
    settings.THROTTLE_LOGIN_PER_USERNAME = (5, 900)  # what unknown browsers share, per account
    owner = Client()
    first = _login(owner, "root", PASSWORD, OWNER)
    assert first.status_code == 302 and DEVICE_COOKIE in first.cookies
    assert first.cookies[DEVICE_COOKIE]["httponly"]
    owner.post("/accounts/logout/")
    for i in range(6):  # a guesser spread over many addresses
        _login(Client(), "root", f"wrong-{i}", f"203.0.113.{i + 1}")
    stranger = _login(Client(), "root", PASSWORD, "203.0.113.99")
    assert stranger.status_code == 429
    assert "A browser you have logged in from before can still log in." in stranger.content.decode()
    assert _login(owner, "root", PASSWORD, ELSEWHERE).status_code == 302  # the device cookie's own allowance


def test_a_forged_or_foreign_device_cookie_gives_no_allowance(root, settings):
    settings.THROTTLE_LOGIN_PER_USERNAME = (2, 900)
    bob = make_user("bob")
    visitor = Client()
    assert _login(visitor, "bob", PASSWORD, OWNER).status_code == 302  # a device cookie, for bob
    visitor.post("/accounts/logout/")
    for i in range(3):
        _login(Client(), "root", f"wrong-{i}", f"203.0.113.{i + 1}")
    assert _login(visitor, "root", PASSWORD, ELSEWHERE).status_code == 429  # bob's cookie is not root's
    visitor.cookies[DEVICE_COOKIE] = "forged:value"
    assert _login(visitor, "root", PASSWORD, ELSEWHERE).status_code == 429
    assert bob.is_active


def test_the_reset_cap_per_email_is_quiet_and_the_links_sent_still_work(settings):
    make_user("alice")
    settings.THROTTLE_PASSWORD_RESET_PER_EMAIL = (2, 3600)
    settings.THROTTLE_PASSWORD_RESET_PER_ADDRESS = (100, 3600)
    answers = []
    for host in range(1, 6):  # strangers asking for alice's address from many places
        response = Client().post("/accounts/password_reset/", {"email": "alice@example.com"},
                                 REMOTE_ADDR=f"203.0.113.{host}")
        answers.append((response.status_code, response["Location"]))
    assert set(answers) == {(302, "/accounts/password_reset/done/")}  # nothing tells them apart
    assert OutboundEmail.objects.filter(to="alice@example.com", kind="password_reset").count() == 2


def test_the_reset_limit_per_address_still_answers_429(settings):
    settings.THROTTLE_PASSWORD_RESET_PER_ADDRESS = (2, 3600)
    client = Client()
    for email in ("one@example.com", "two@example.com"):
        assert client.post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=GUESSER).status_code == 302
    refused = client.post("/accounts/password_reset/", {"email": "three@example.com"}, REMOTE_ADDR=GUESSER)
    assert refused.status_code == 429 and "Too many password reset requests from your network." in refused.content.decode()


def test_every_limiter_keeps_its_counters_under_one_prefix(root):
    """The doors, the API, comments and weather lookups share one limiter: keys under site:rate:."""
    import redis
    from django.conf import settings as django_settings

    _login(Client(), "root", "wrong", GUESSER)
    api = Client()
    api.force_login(root)
    assert api.get("/api/me/").status_code == 200
    keys = {key.decode() for key in redis.Redis.from_url(django_settings.REDIS_URL).scan_iter("site:rate:*")}
    names = {key.split(":")[2] for key in keys}
    assert {"THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS", "THROTTLE_LOGIN_PER_ADDRESS", "API_THROTTLE_RATE"} <= names
    assert not any("root" in key for key in keys)  # identities hashed
