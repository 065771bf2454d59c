"""The websocket doors: the Origin check (scheme, host and port) and the message types each consumer
accepts from the channel layer."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from dashboard.live.contract import MODERATION_GROUP, MODERATION_UPDATE, TASK_UPDATE, localized
from dashboard.live.publisher import publisher
from site_config.machinery.websocket_origin import allowed_origins, origin_allowed
from tests.conftest import session_cookie
from tests.livetools import ws_connect

# --- which origins are ours (settings only) ---

@pytest.mark.parametrize(("origin", "allowed"), [
    ("https://example.com", True),
    ("https://example.com:443", True),
    ("http://example.com", False),  # the scheme counts
    ("https://example.com:8443", False),  # the port counts
    ("https://evil.example.com", False),
    ("https://a.example.org", True),  # from DJANGO_CSRF_TRUSTED_ORIGINS' wildcard
    ("https://example.org.evil.net", False),
    ("http://127.0.0.1:8000", False),  # loopback only with DEBUG on
    ("null", False),
    ("", False),
])
def test_origins_are_compared_by_scheme_host_and_port(settings, origin, allowed):
    settings.DEBUG = False
    settings.SITE_URL = "https://example.com"
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org"]
    assert origin_allowed(origin, allowed_origins()) is allowed


def test_with_debug_on_the_loopback_at_port_is_ours(settings):
    settings.DEBUG, settings.PORT, settings.SITE_URL, settings.CSRF_TRUSTED_ORIGINS = True, 8001, "http://127.0.0.1:8000", []
    for origin in ("http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001", "http://127.0.0.1:8000"):
        assert origin_allowed(origin, allowed_origins()), origin
    assert not origin_allowed("http://127.0.0.1:8002", allowed_origins())


# --- under daphne ---

def test_a_socket_from_our_host_with_another_scheme_or_port_is_refused(daphne_server, transactional_db, alice):
    port = daphne_server.url.rsplit(":", 1)[1]
    for origin in (f"https://127.0.0.1:{port}", f"http://127.0.0.1:{int(port) + 1}", "http://127.0.0.1"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(daphne_server, "/ws/moderation/", session_cookie(alice), origin=origin)
        assert refused.value.response.status_code == 403, origin
    with ws_connect(daphne_server, "/ws/moderation/", session_cookie(alice), origin=f"http://localhost:{port}") as ws:
        ws.recv(timeout=10)


def test_a_consumer_ignores_message_types_it_does_not_define(daphne_server, transactional_db, alice):
    with ws_connect(daphne_server, "/ws/moderation/", session_cookie(alice)) as ws:
        ws.recv(timeout=10)  # the snapshot
        # A task update (a handler the moderation consumer inherits) and one of Channels' own types.
        group = localized(MODERATION_GROUP, "en")  # the group of the socket's language (no Accept-Language)
        publisher.publish(group, {"type": TASK_UPDATE, "task_id": "x", "html": "<p>forged</p>"})
        publisher.publish(group, {"type": "websocket.disconnect", "code": 1000})
        publisher.publish(group, {"type": MODERATION_UPDATE, "html": "<p>real</p>"})
        assert publisher.flush()
        assert ws.recv(timeout=10) == "<p>real</p>"
    daphne_server.wait_for_log("ModerationConsumer ignored a message of type 'websocket.disconnect'", timeout=5)
