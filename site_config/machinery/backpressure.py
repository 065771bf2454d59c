"""Back-pressure for streamed HTTP responses under daphne: the body waits while the client is not reading.

Daphne writes each `http.response.body` message into Twisted's transport at once and returns,
however slowly the client reads (it registers no producer with Twisted), so the application is
never held back: a file streamed to a slow reader would pile up in the process's memory, up to the
whole file (236 MB for a 1,000,000-row export read at 1 MB/s; docs/benchmarks.md).

Twisted has the mechanism daphne leaves unused: a push producer registered with the request is told
`pauseProducing()` when the connection's write buffer is full and `resumeProducing()` once it has
drained. This ASGI middleware registers one for each streamed response (a body sent in more than
one message) and makes `send` wait while it is paused, so a download holds about one chunk in the
process whatever the client's speed. It finds daphne's request in the `send` daphne passes
(`functools.partial(server.handle_reply, request)`); under any other server, or should daphne pass
something else, `send` goes through untouched.
"""

from __future__ import annotations

import asyncio
import functools


class _Producer:
    """Twisted's IPushProducer, as an asyncio event: set while the client takes what is sent."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()

    def pauseProducing(self) -> None:  # noqa: N802  (Twisted's interface)
        self.ready.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.ready.set()

    def stopProducing(self) -> None:  # noqa: N802  (connection lost: the application finds out itself)
        self.ready.set()


def _daphne_request(send):
    """Daphne's Twisted request behind `send`, or None."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    try:
        from twisted.web.http import Request
    except ImportError:
        return None
    request = send.args[0]
    return request if isinstance(request, Request) else None


class BackpressureMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        request = _daphne_request(send) if scope["type"] == "http" else None
        if request is None:
            return await self.app(scope, receive, send)
        try:
            from twisted.internet.interfaces import IPushProducer
            from zope.interface import directlyProvides
        except ImportError:
            return await self.app(scope, receive, send)
        producer = _Producer()
        directlyProvides(producer, IPushProducer)
        registered = False

        async def paced_send(message):
            nonlocal registered
            if message["type"] == "http.response.body":
                more = message.get("more_body", False)
                if more and not registered and request.producer is None and not request.finished \
                        and _connected(request):
                    request.registerProducer(producer, True)
                    registered = True
                elif not more and registered:
                    # Before the last body: Twisted's finish() expects no producer left registered.
                    _unregister(request)
                    registered = False
            await send(message)
            if registered:
                await producer.ready.wait()

        try:
            await self.app(scope, receive, paced_send)
        finally:
            if registered:
                _unregister(request)


def _connected(request) -> bool:
    return request.channel is not None  # Twisted lets go of the channel when the connection is lost


def _unregister(request) -> None:
    """Let go of the producer; when the client has gone meanwhile (the channel with it), there is
    nothing left to let go of, and the rest of the body is dropped by daphne as usual."""
    if _connected(request):
        request.unregisterProducer()
    else:
        request.producer = None
