"""Let daphne close a websocket with 1012 (Service Restart).

The live pages' htmx ws extension reconnects after 1006, 1011, 1012 and 1013 only, so a socket that
should come back, authorised afresh (dashboard.live.consumers: its maximum age, or a change to its
user's rights that leaves it allowed), must close with one of those. 1012 is a registered close code
that servers send (autobahn lists it among the codes allowed in a close frame), but autobahn's
application-facing sendClose() accepts only 1000 and 3000-4999, so daphne's `websocket.close` with
1012 raises instead of closing. Here daphne's server-side close sends 1012 through autobahn's
close-frame method, as sendClose() itself does after its check; every other code goes through the
check as before.
"""

from __future__ import annotations

SERVICE_RESTART = 1012


def allow_service_restart_close() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol.serverClose, "allows_service_restart", False):
        return
    checked_close = WebSocketProtocol.serverClose

    def serverClose(self, code=None):
        if code == SERVICE_RESTART:
            self.sendCloseFrame(code=SERVICE_RESTART, isReply=False)
        else:
            checked_close(self, code)

    serverClose.allows_service_restart = True
    WebSocketProtocol.serverClose = serverClose
