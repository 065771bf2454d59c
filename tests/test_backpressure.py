"""The back-pressure middleware (site_config/machinery/backpressure.py) with Twisted's own request and
channel, as daphne hands them over: a client that goes away while a streamed body is being sent."""

from __future__ import annotations

import asyncio
import functools

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, Request

from site_config.machinery.backpressure import BackpressureMiddleware


def test_a_client_gone_before_the_last_body_ends_the_response_without_an_error():
    channel = HTTPChannel()
    channel.makeConnection(StringTransport())
    request = Request(channel)
    sent = []

    async def handle_reply(request, message):  # daphne's send is functools.partial(server.handle_reply, request)
        sent.append(message.get("more_body"))

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
        assert request.producer is not None  # registered for the stream
        request.connectionLost(Failure(ConnectionDone()))  # the client leaves mid-download
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    asyncio.run(BackpressureMiddleware(app)({"type": "http"}, None, functools.partial(handle_reply, request)))
    assert sent == [None, True, False]  # every message went on to daphne, which drops them for a gone client
    assert request.producer is None
