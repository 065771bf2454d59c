"""`python -m site_config.ops.web [daphne's arguments]`: daphne, stopping the way platforms stop it
(Procfile `web`).

A platform stops a process with SIGTERM and kills it some seconds later (30 by default on most).
Daphne alone stops at once: requests in flight are cut, websockets drop without a close code, and
the load balancer keeps sending traffic until its next failed probe. Here, on SIGTERM (or SIGINT):

1. `/readyz` answers 503 ("stopping") at once, so the balancer stops sending new traffic;
2. everything is still served for WEB_DRAIN_SECONDS (requests, new websockets, live messages);
3. then the listening sockets close and every websocket is closed with 1012 (Service Restart),
   after which the live pages reconnect by themselves (to another process) and resynchronise from
   the database; the process exits once they are closed (at most 3 s more).

A second signal during the drain stops at once. WEB_DRAIN_SECONDS plus a few seconds must stay
below the platform's kill delay.
"""

from __future__ import annotations

import signal
import sys
import time

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor

#: How long the closing handshakes of the websockets may take before the process exits anyway.
CLOSE_GRACE_SECONDS = 3.0


def say(text: str) -> None:
    print(f"web: {text}", flush=True)


class DrainingServer(Server):
    """daphne's server with the stop sequence above instead of Twisted's immediate stop."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["signal_handlers"] = False
        super().__init__(*args, **kwargs)
        self.ports: list = []
        self.stopping = False

    def listen_success(self, port) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        super().run()

    def _on_signal(self, signum, frame) -> None:
        # Twisted's own handlers do the same: hand the work to the reactor's thread.
        reactor.callFromThread(self.stop_begin, signal.Signals(signum).name)

    def stop_begin(self, why: str) -> None:
        if self.stopping:
            say(f"{why} again: stopping now")
            self.stop()
            return
        from django.conf import settings

        from site_config.ops.readiness import readiness

        self.stopping = True
        readiness.stop_begin()
        drain = settings.WEB_DRAIN_SECONDS
        say(f"{why}: /readyz answers 503 from now; serving {drain:g} s more, then closing websockets (1012)")
        reactor.callLater(drain, self.drain_end)

    def _open_websockets(self) -> list[WebSocketProtocol]:
        return [protocol for protocol, details in list(self.connections.items())
                if isinstance(protocol, WebSocketProtocol) and "disconnected" not in details]

    def drain_end(self) -> None:
        for port in self.ports:
            port.stopListening()
        sockets = self._open_websockets()
        for protocol in sockets:
            protocol.serverClose(code=1012)  # allowed by site_config/machinery/websocket_close.py
        say(f"drained: {len(sockets)} websocket(s) closed with 1012 (the pages reconnect)")
        self._exit_when_closed(time.monotonic() + CLOSE_GRACE_SECONDS)

    def _exit_when_closed(self, deadline: float) -> None:
        if self._open_websockets() and time.monotonic() < deadline:
            reactor.callLater(0.1, self._exit_when_closed, deadline)
            return
        say("stopped")
        self.stop()


class WebCommandLine(CommandLineInterface):
    server_class = DrainingServer


def main(argv: list[str]) -> int:
    WebCommandLine().run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
