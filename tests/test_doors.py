"""The doors: one client address for the whole site, and the throttles on log-in, sign-up, password
reset and the verification re-send.

Through a real daphne whose one trusted proxy is 127.0.0.2: requests sent from 127.0.0.1 are a
visitor talking to daphne directly (whatever X-Forwarded-For they write is ignored); requests sent
from 127.0.0.2 come "through the proxy", whose X-Forwarded-For is read from the right.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlparse

import pytest

from site_config.machinery.client_address import client_address, client_bucket, trusted_proxy_networks
from tests.conftest import BASE_DIR, PASSWORD, child_env, make_user, session_cookie, start_daphne

PROXY = "127.0.0.2"


@pytest.fixture(scope="module")
def doors(django_db_setup):
    server = start_daphne("daphne-doors", env={
        "TRUSTED_PROXIES": f"{PROXY}/32",
        "THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS": "3/60",
        "THROTTLE_LOGIN_PER_ADDRESS": "5/60",
        "THROTTLE_PASSWORD_RESET_PER_ADDRESS": "2/60",
        "THROTTLE_PASSWORD_RESET_PER_EMAIL": "3/60",
        "THROTTLE_VERIFICATION_RESEND_PER_ADDRESS": "10/60",
        "THROTTLE_VERIFICATION_RESEND_PER_EMAIL": "2/60",
        "THROTTLE_SIGNUP_PER_ADDRESS": "2/60",
        # Nothing listens on port 9: a city lookup fails at once, after the rate limit has counted it.
        "WEATHER_GEOCODING_URL": "http://127.0.0.1:9/v1/search", "WEATHER_FORECAST_URL": "http://127.0.0.1:9/v1/forecast",
        "WEATHER_RETRIES": "0", "WEATHER_RATE_LIMIT": "2",
    })
    yield server
    server.stop()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


class Visitor:
    """A browser-less client: keeps cookies, sends from `source` with the given extra headers."""

    def __init__(self, server, *, source: str = "127.0.0.1", headers: dict | None = None, cookie: str = "") -> None:
        self.server, self.source, self.headers = server, source, dict(headers or {})
        self.cookies = SimpleCookie(cookie)

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Answer:
        parsed = urlparse(self.server.url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30,
                                                source_address=(self.source, 0))
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        answer = Answer(response.status, response.headers, response.read().decode())
        connection.close()
        for header in answer.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return answer

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict, **kwargs) -> Answer:
        """POST a form with a fresh CSRF token (read from the log-in page, as a browser would)."""
        page = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
        return self.request("POST", path, {**form, "csrfmiddlewaretoken": token}, **kwargs)


def direct(server, forged_for: str | None = None, **kwargs) -> Visitor:
    """Someone talking to daphne directly, maybe writing an X-Forwarded-For of their choice."""
    return Visitor(server, headers={"X-Forwarded-For": forged_for} if forged_for else {}, **kwargs)


def proxied(server, forwarded_for: str, **kwargs) -> Visitor:
    """A visitor behind the trusted proxy, which appended their address to X-Forwarded-For."""
    return Visitor(server, source=PROXY, headers={"X-Forwarded-For": forwarded_for}, **kwargs)


def failed_login(visitor: Visitor, username: str = "nobody") -> Answer:
    return visitor.post("/accounts/login/", {"username": username, "password": "wrong password"})


# --- the decision itself (a pure function) ---

TRUSTED = trusted_proxy_networks(["10.0.0.0/8", "192.0.2.7", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(("peer", "forwarded_for", "client"), [
    ("203.0.113.5", None, "203.0.113.5"),
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: its header is its own invention
    ("192.0.2.7", "198.51.100.1", "198.51.100.1"),
    ("192.0.2.7", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client pre-filled the left part
    ("192.0.2.7", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # two trusted hops
    ("192.0.2.7", "10.9.9.9, 10.1.2.3", "10.9.9.9"),  # from inside: the farthest trusted hop
    ("192.0.2.7", "6.6.6.6, garbage, 10.1.2.3", "10.1.2.3"),  # never past an entry that is no address
    ("192.0.2.7", "", "192.0.2.7"),
    ("192.0.2.7", "[2001:db8::1]:4711", "2001:db8::1"),
    ("192.0.2.7", "198.51.100.1:4711", "198.51.100.1"),
    ("2001:db8:ffff::1", "2001:db8:1::5", "2001:db8:1::5"),
    ("::ffff:192.0.2.7", "198.51.100.1", "198.51.100.1"),  # an IPv4 proxy seen through a dual-stack socket
])
def test_client_address_believes_forwarded_for_only_as_far_as_trusted_proxies_wrote_it(peer, forwarded_for, client):
    assert client_address(peer, forwarded_for, trusted=TRUSTED) == client


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address("192.0.2.7", "198.51.100.1", trusted=()) == "192.0.2.7"


@pytest.mark.parametrize(("address", "bucket"), [
    ("198.51.100.1", "198.51.100.1"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.1", "198.51.100.1"),
])
def test_limits_count_ipv4_addresses_and_ipv6_64s(address, bucket):
    assert client_bucket(address) == bucket


def test_daphne_proxy_headers_stops_start_up_with_a_message():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, capture_output=True, text=True,
                            env=child_env(DAPHNE_PROXY_HEADERS="1"), timeout=60)
    assert result.returncode != 0
    assert "DAPHNE_PROXY_HEADERS is no longer read" in result.stderr and "TRUSTED_PROXIES" in result.stderr


def test_a_bad_trusted_proxy_stops_start_up_with_a_message():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, capture_output=True, text=True,
                            env=child_env(TRUSTED_PROXIES="10.0.0.0/8,not-a-network"), timeout=60)
    assert result.returncode != 0 and "TRUSTED_PROXIES: 'not-a-network'" in result.stderr


# --- the decision under daphne: buckets, the access log, https ---

def test_forged_forwarded_for_from_a_direct_visitor_does_not_change_the_bucket(doors, transactional_db):
    for attempt in range(5):
        assert failed_login(direct(doors, f"198.51.100.{attempt}"), f"user{attempt}").status == 200
    refused = failed_login(direct(doors, "198.51.100.99"), "user99")
    assert refused.status == 429
    assert "Too many failed log-ins from your network." in refused.body
    doors.wait_for_log('127.0.0.1 "POST /accounts/login/" 429', timeout=5)  # the access log names the peer
    assert '198.51.100.99 "POST' not in doors.log()


def test_behind_the_trusted_proxy_each_client_has_its_own_bucket(doors, transactional_db):
    for attempt in range(5):
        assert failed_login(proxied(doors, "198.51.100.7"), f"user{attempt}").status == 200
    assert failed_login(proxied(doors, "198.51.100.7"), "user9").status == 429
    # What the client wrote to the left of the proxy's entry changes nothing.
    assert failed_login(proxied(doors, "6.6.6.6, 198.51.100.7"), "user9").status == 429
    assert failed_login(proxied(doors, "198.51.100.8"), "user9").status == 200
    doors.wait_for_log('198.51.100.7 "POST /accounts/login/" 429', timeout=5)


def test_ipv6_clients_share_a_bucket_per_64(doors, transactional_db):
    for host in range(1, 6):
        assert failed_login(proxied(doors, f"2001:db8:1:2::{host}"), f"user{host}").status == 200
    assert failed_login(proxied(doors, "2001:db8:1:2:abcd::1"), "user9").status == 429
    assert failed_login(proxied(doors, "2001:db8:1:3::1"), "user9").status == 200


def test_https_from_the_proxy_header_is_believed_only_from_the_trusted_proxy(doors, transactional_db):
    https_origin = {"Origin": doors.url.replace("http://", "https://"), "X-Forwarded-Proto": "https"}
    # Django's CSRF check compares the Origin with the request's own scheme: it passes only if the
    # request is taken to be https.
    through_proxy = proxied(doors, "198.51.100.20").post(
        "/accounts/login/", {"username": "x", "password": "y"}, headers=https_origin)
    assert through_proxy.status == 200 and "Please enter a correct username and password" in through_proxy.body
    forged = direct(doors).post("/accounts/login/", {"username": "x", "password": "y"}, headers=https_origin)
    assert forged.status == 403


def test_weather_limit_keys_on_the_decided_client(doors, transactional_db):
    assert direct(doors, "198.51.100.30").get("/weather/?cities=Oslo,Lima").status == 200
    limited = direct(doors, "198.51.100.31").get("/weather/?cities=Rome")
    assert limited.status == 429 and "Too many lookups from your address." in limited.body
    assert proxied(doors, "198.51.100.32").get("/weather/api/?city=Rome").status != 429


# --- throttles on each door ---

def test_log_in_is_throttled_per_account_and_address(doors, transactional_db):
    make_user("alice", staff=True)
    make_user("bob")
    guesser = proxied(doors, "198.51.100.40")
    for attempt in range(3):
        assert failed_login(guesser, "alice").status == 200
    # Even the right password waits, from the guesser's address: the guesser must not learn it was right.
    refused = guesser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) in range(1, 61)
    assert "Too many failed log-ins for this account from your network." in refused.body
    assert "Please try again in 1 minute" in refused.body
    doors.wait_for_log("throttled log-in: THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS over 3/60s from 198.51.100.40", timeout=5)
    # The owner, elsewhere, is not locked out; another account from the guesser's address neither.
    assert proxied(doors, "198.51.100.49").post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status == 302
    assert guesser.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status == 302


def test_the_admin_log_in_is_throttled_too(doors, transactional_db):
    for attempt in range(3):
        assert proxied(doors, "198.51.100.50").post(
            "/admin/login/", {"username": "alice", "password": "wrong"}).status == 200
    assert proxied(doors, "198.51.100.50").post("/admin/login/", {"username": "alice", "password": "wrong"}).status == 429


def test_successful_log_ins_do_not_count(doors, transactional_db):
    make_user("bob")
    for _ in range(5):
        assert proxied(doors, "198.51.100.60").post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status == 302


def test_password_reset_is_strict_per_client_and_quietly_capped_per_email(doors, transactional_db):
    make_user("alice", staff=True)
    client = proxied(doors, "198.51.100.70")
    assert client.post("/accounts/password_reset/", {"email": "one@example.com"}).status == 302
    assert client.post("/accounts/password_reset/", {"email": "two@example.com"}).status == 302
    refused = client.post("/accounts/password_reset/", {"email": "three@example.com"})
    assert refused.status == 429 and "Too many password reset requests from your network." in refused.body
    # One address asked for from many places: a few links, then the same answer and no new link.
    for host in range(71, 75):
        assert proxied(doors, f"198.51.100.{host}").post("/accounts/password_reset/", {"email": "Alice@Example.com"}).status == 302
    doors.wait_for_log("throttled password reset (quiet, no link sent): THROTTLE_PASSWORD_RESET_PER_EMAIL", timeout=5)
    # Another address from a fresh client is unaffected.
    assert proxied(doors, "198.51.100.75").post("/accounts/password_reset/", {"email": "bob@example.com"}).status == 302


def test_sign_up_is_throttled_per_client(doors, transactional_db):
    form = {"username": "newcomer", "email": "new@example.com", "password1": "a", "password2": "b"}
    client = proxied(doors, "198.51.100.80")
    assert client.post("/accounts/signup/", form).status == 400
    assert client.post("/accounts/signup/", form).status == 400
    refused = client.post("/accounts/signup/", form)
    assert refused.status == 429 and "Too many sign-ups from your network." in refused.body
    assert proxied(doors, "198.51.100.81").post("/accounts/signup/", form).status == 400


def test_verification_resend_is_throttled_per_email(doors, transactional_db):
    bob = make_user("bob")
    for host in (90, 91):
        visitor = proxied(doors, f"198.51.100.{host}", cookie=session_cookie(bob))
        assert visitor.post("/accounts/verify/resend/", {"next": "/blog/"}).status == 302
    refused = proxied(doors, "198.51.100.92", cookie=session_cookie(bob)).post("/accounts/verify/resend/", {"next": "/blog/"})
    assert refused.status == 429 and "confirmation links were sent to your address recently" in refused.body


# --- the access log: one line per request, whatever the path holds, and no keys ---

def test_a_newline_in_a_url_cannot_forge_an_access_log_line(doors, transactional_db):
    forged = '198.51.100.1 "GET /admin/ HTTP/1.1" 200'
    direct(doors).get("/blog/x%0A" + forged.replace(" ", "%20").replace('"', "%22"))
    doors.wait_for_log('"GET /blog/x\\x0a198.51.100.1', timeout=5)
    assert not any(line.startswith(forged) for line in doors.log().splitlines())


def test_keys_in_paths_are_redacted_in_the_access_log(doors, transactional_db):
    visitor = direct(doors)
    visitor.get("/accounts/reset/MQ/cbzj9k-0123456789abcdef0123456789abcdef/")
    visitor.get("/accounts/verify/secret-verify-key/")
    visitor.get("/accounts/unsubscribe/secret-unsubscribe-key/?token=also-secret")
    doors.wait_for_log('"GET /accounts/unsubscribe/[redacted]/?token=[redacted]"', timeout=5)
    doors.wait_for_log("Bad Request: /accounts/unsubscribe/[redacted]/", timeout=5)  # Django's own line
    # The site's loggers (daphne's own access log is off in production: the Procfile's --verbosity 0).
    log = "\n".join(line for line in doors.log().splitlines() if " MainProcess " in line)
    assert '"GET /accounts/reset/[redacted]/"' in log and '"GET /accounts/verify/[redacted]/"' in log
    for secret in ("cbzj9k-0123456789abcdef", "secret-verify-key", "secret-unsubscribe-key", "also-secret"):
        assert secret not in log
