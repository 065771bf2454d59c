"""The live machinery tested directly, in this process, against the private Redis the channel layer
points at: the publisher (coalescing, order, its restart in a forked child), the fan-out (order and
coalescing behind a slow consumer), a consumer holding updates while its snapshot is being made,
and a poller driven by a clock the test moves.

No worker, daphne or browser: these run in the fast lane. Whatever a test must wait for, it waits
for a message or an event that says it happened, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import TASK_UPDATE, localized, stamp
from dashboard.live.fanout import GroupFanout
from dashboard.live.poller import Poller
from dashboard.live.publisher import Publisher

WAIT = 10.0  # seconds: an upper bound for things that take milliseconds, never a pause


def run(coroutine_function):
    """Run an async scenario in a fresh event loop of its own thread (the test thread may already
    have Playwright's loop running in it once a browser test has run)."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine_function()).result()


def a_group() -> str:
    return f"test-live.{uuid.uuid4().hex}"


def message(body: str) -> dict:
    return {"type": TASK_UPDATE, "html": body, "body": body}


async def until(condition, what: str) -> None:
    """Yield to the event loop until `condition()` holds (bounded by WAIT)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"waited {WAIT}s for {what}")
        await asyncio.sleep(0.005)


async def subscribed_channel(group: str) -> str:
    """A channel of the real layer in the group, with the subscription proven live (a probe sent to
    the group came back), so nothing sent afterwards can be missed."""
    layer = get_channel_layer()
    channel = await layer.new_channel(prefix="test.")
    await layer.group_add(group, channel)
    probe = {"type": "test.probe", "body": f"probe {uuid.uuid4().hex}"}
    for _ in range(int(WAIT / 0.2)):
        await layer.group_send(group, probe)
        try:
            while (await asyncio.wait_for(layer.receive(channel), 0.2))["body"] != probe["body"]:
                pass
            return channel
        except TimeoutError:
            continue
    raise TimeoutError(f"the subscription to {group} never came alive")


async def bodies_until(channel: str, last: str) -> list[str]:
    """The bodies of the messages received on `channel`, in order, up to and including `last`."""
    layer = get_channel_layer()
    bodies: list[str] = []
    while not bodies or bodies[-1] != last:
        received = await asyncio.wait_for(layer.receive(channel), WAIT)
        if received["type"] != "test.probe":
            bodies.append(received["body"])
    return bodies


# --- the publisher -------------------------------------------------------------------------------

@contextmanager
def busy(publisher: Publisher):
    """Hold the publisher's sending thread, as a slow Redis would, so messages queue up behind it."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(WAIT)

    publisher._loop.call_soon_threadsafe(hold)
    assert holding.wait(WAIT), "the publisher's loop never ran the hold"
    try:
        yield
    finally:
        release.set()


def test_publisher_sends_the_latest_message_per_key_in_arrival_order_and_every_message_without_a_key():
    group = a_group()
    publisher = Publisher()

    def publish_behind_a_busy_sender() -> None:
        publisher.publish(group, message("before"))
        assert publisher.flush(WAIT)
        with busy(publisher):
            for body, key in [("k1 v1", "k1"), ("k2 v1", "k2"), ("a", None), ("k1 v2", "k1"), ("b", None),
                              ("k2 v2", "k2"), ("k1 v3", "k1"), ("end", None)]:
                publisher.publish(group, message(body), key=key)
        assert publisher.flush(WAIT)

    async def scenario():
        channel = await subscribed_channel(group)
        await asyncio.to_thread(publish_behind_a_busy_sender)
        return await bodies_until(channel, "end")

    # A key keeps the place of its first waiting message and sends only its newest; every message
    # without a key goes out, in order.
    assert run(scenario) == ["before", "k1 v3", "k2 v2", "a", "b", "end"]


def test_publisher_stamps_each_message_with_its_group_and_key():
    group = a_group()
    publisher = Publisher()

    async def scenario():
        layer = get_channel_layer()
        channel = await subscribed_channel(group)
        await asyncio.to_thread(lambda: (publisher.publish(group, message("keyed"), key=("task", "t-1")),
                                         publisher.publish(group, message("plain")), publisher.flush(WAIT)))
        return [await asyncio.wait_for(layer.receive(channel), WAIT) for _ in range(2)]

    keyed, plain = run(scenario)
    assert (keyed["body"], keyed["group"], keyed["key"]) == ("keyed", group, repr(("task", "t-1")))
    assert (plain["body"], plain["group"], plain["key"]) == ("plain", group, None)


def test_publisher_used_before_a_fork_starts_afresh_in_the_child_and_its_messages_arrive():
    group = a_group()
    publisher = Publisher()

    def fork_a_child_that_publishes() -> tuple[int, int]:
        # The child inherits the publisher, but not its sending thread (a fork copies only the
        # calling thread): this is what a Celery prefork worker process gets from its parent.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a process that has threads
            pid = os.fork()
        if pid == 0:
            code = 3
            try:
                publisher.publish(group, message(f"from child {os.getpid()}"))
                code = 0 if publisher.flush(WAIT) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return pid, os.waitstatus_to_exitcode(status)

    async def scenario():
        channel = await subscribed_channel(group)
        await asyncio.to_thread(lambda: (publisher.publish(group, message("parent before")), publisher.flush(WAIT)))
        before = await bodies_until(channel, "parent before")
        child_pid, exit_code = await asyncio.to_thread(fork_a_child_that_publishes)
        from_child = await bodies_until(channel, f"from child {child_pid}")
        await asyncio.to_thread(lambda: (publisher.publish(group, message("parent after")), publisher.flush(WAIT)))
        after = await bodies_until(channel, "parent after")
        return before, exit_code, child_pid, from_child, after

    before, exit_code, child_pid, from_child, after = run(scenario)
    assert before == ["parent before"]
    assert exit_code == 0, "the child's publisher did not hand its message to Redis"
    assert from_child == [f"from child {child_pid}"]
    assert after == ["parent after"]  # the parent's own thread is unaffected by the child


# --- the fan-out ---------------------------------------------------------------------------------

class Watcher:
    """A consumer as the fan-out sees one: it records what it is handed. `hold_next()` makes the
    next delivery wait until `release()`, like a socket whose client reads slowly."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.holding = asyncio.Event()
        self._hold = False
        self._release = asyncio.Event()

    def hold_next(self) -> None:
        self._hold = True

    def release(self) -> None:
        self._release.set()

    async def deliver(self, received: dict) -> None:
        if received["type"] == "test.probe":
            return
        if self._hold:
            self._hold = False
            self.holding.set()
            await self._release.wait()
        self.bodies.append(received["body"])


async def fanout_live(hub: GroupFanout, group: str, watcher: Watcher) -> None:
    """Send probes until the fan-out's subscription delivers one to `watcher`."""
    layer = get_channel_layer()
    seen = asyncio.Event()
    original = watcher.deliver

    async def deliver(received):
        if received["type"] == "test.probe":
            seen.set()
        await original(received)

    watcher.deliver = deliver
    try:
        for _ in range(int(WAIT / 0.2)):
            await layer.group_send(group, stamp({"type": "test.probe", "body": "probe"}, group=group, key=None))
            try:
                await asyncio.wait_for(seen.wait(), 0.2)
                return
            except TimeoutError:
                continue
        raise TimeoutError("the fan-out's subscription never came alive")
    finally:
        watcher.deliver = original


def test_fanout_behind_a_slow_consumer_delivers_the_latest_per_key_in_order_to_every_consumer():
    group = a_group()

    async def scenario():
        layer = get_channel_layer()
        hub = GroupFanout()
        slow, quick = Watcher(), Watcher()
        await hub.join(group, slow)
        await hub.join(group, quick)
        await fanout_live(hub, group, quick)

        async def send(body, key=None):
            await layer.group_send(group, stamp(message(body), group=group, key=key))

        slow.hold_next()
        await send("first")
        await asyncio.wait_for(slow.holding.wait(), WAIT)  # the delivery round is stuck in `slow`
        for body, key in [("k1 v1", "k1"), ("k2 v1", "k2"), ("a", None), ("k1 v2", "k1"), ("b", None),
                          ("k2 v2", "k2"), ("k1 v3", "k1"), ("end", None)]:
            await send(body, key)
        # Everything has reached the fan-out (it waits behind the slow consumer) before it is let go.
        await until(lambda: any(m.get("body") == "end" for m in hub._pending.values()), "the fan-out to receive 'end'")
        slow.release()
        await until(lambda: "end" in slow.bodies and "end" in quick.bodies, "both consumers to get 'end'")
        for task in hub._tasks:
            task.cancel()
        return slow.bodies, quick.bodies

    slow_got, quick_got = run(scenario)
    expected = ["first", "k1 v3", "k2 v2", "a", "b", "end"]
    assert slow_got == expected
    assert quick_got == expected  # the quick consumer shares the round, so it sees the same


def test_fanout_stops_delivering_to_a_consumer_that_left():
    group = a_group()

    async def scenario():
        layer = get_channel_layer()
        hub = GroupFanout()
        staying, leaving = Watcher(), Watcher()
        await hub.join(group, staying)
        await hub.join(group, leaving)
        await fanout_live(hub, group, staying)
        await layer.group_send(group, stamp(message("both"), group=group, key=None))
        await until(lambda: staying.bodies == leaving.bodies == ["both"], "both to get the first message")
        await hub.leave(group, leaving)
        await layer.group_send(group, stamp(message("one"), group=group, key=None))
        await until(lambda: staying.bodies == ["both", "one"], "the staying consumer to get the second message")
        for task in hub._tasks:
            task.cancel()
        return leaving.bodies

    assert run(scenario) == ["both"]


class SlowDiscardLayer:
    """The real channel layer, whose group_discard waits for `discard_may_finish`: an unsubscribe
    still on its way to Redis (a loaded machine, another connection of the pool)."""

    def __init__(self, layer) -> None:
        self._layer = layer
        self.discard_may_finish = asyncio.Event()

    def __getattr__(self, name):
        return getattr(self._layer, name)

    async def group_discard(self, group: str, channel: str) -> None:
        await self.discard_may_finish.wait()
        await self._layer.group_discard(group, channel)


def test_a_watcher_joining_while_the_last_one_leaves_still_gets_the_groups_messages():
    # Seen as a flaky browser test: htmx swapped the task table, its socket closed and opened again,
    # and the new one never got the "1 new task" bar: the old socket's unsubscribe landed last.
    group = a_group()

    async def scenario():
        hub = GroupFanout()
        layer = hub.layer = SlowDiscardLayer(hub.layer)
        old, new = Watcher(), Watcher()
        await hub.join(group, old)
        await fanout_live(hub, group, old)
        leaving = asyncio.create_task(hub.leave(group, old))
        await asyncio.sleep(0.1)  # the last watcher's unsubscribe is on its way
        joining = asyncio.create_task(hub.join(group, new))
        await asyncio.sleep(0.1)
        layer.discard_may_finish.set()
        await leaving
        await joining
        await fanout_live(hub, group, new)  # TimeoutError when the process no longer hears the group
        for task in hub._tasks:
            task.cancel()

    run(scenario)


# --- a consumer's snapshot and the updates that arrive meanwhile ---------------------------------

class SlowSnapshotConsumer(LiveConsumer):
    """A LiveConsumer whose snapshot takes until the test says so; it records what the fan-out hands it."""

    group = ""
    message_types = LiveConsumer.message_types | {TASK_UPDATE}
    snapshot_may_finish: asyncio.Event
    handed: list[str]

    async def authorize(self) -> None:
        self.groups_to_join = [type(self).group]

    async def snapshot(self) -> str:
        await type(self).snapshot_may_finish.wait()
        return "snapshot"

    async def deliver(self, received: dict) -> None:
        type(self).handed.append(received.get("body", ""))
        await super().deliver(received)


def test_consumer_holds_updates_during_its_snapshot_and_sends_the_latest_per_key_right_after():
    group = a_group()

    async def scenario():
        layer = get_channel_layer()
        SlowSnapshotConsumer.group = group  # the consumer joins its English group (no Accept-Language)
        SlowSnapshotConsumer.snapshot_may_finish = asyncio.Event()
        SlowSnapshotConsumer.handed = []
        client = WebsocketCommunicator(SlowSnapshotConsumer.as_asgi(), "/ws/test/")
        connected, _ = await client.connect(timeout=WAIT)  # accepted; the snapshot is still being made
        assert connected

        async def send(body, key=None):
            english = localized(group, "en")
            await layer.group_send(english, stamp(message(body), group=english, key=key))

        # Probe until the fan-out hands the consumer something: its subscription is live.
        await until_handed(send, SlowSnapshotConsumer.handed)
        for body, key in [("k1 v1", "k1"), ("k2 v1", "k2"), ("k1 v2", "k1"), ("a", None), ("end", None)]:
            await send(body, key)
        await until(lambda: "end" in SlowSnapshotConsumer.handed, "the consumer to be handed 'end'")
        SlowSnapshotConsumer.snapshot_may_finish.set()
        sent = []
        while not sent or sent[-1] != "end":
            sent.append(await client.receive_from(timeout=WAIT))
        await send("live")
        sent.append(await client.receive_from(timeout=WAIT))
        await client.disconnect()
        return sent

    sent = run(scenario)
    assert sent[0] == "snapshot", "an update overtook the snapshot"
    warmups = [body for body in sent if body.startswith("warm-up")]
    assert sent == ["snapshot", *warmups, "k1 v2", "k2 v1", "a", "end", "live"]


async def until_handed(send, handed: list[str]) -> None:
    for attempt in range(int(WAIT / 0.2)):
        await send(f"warm-up {attempt}")
        try:
            await asyncio.wait_for(until(lambda: bool(handed), "a first delivery"), 0.2)
            return
        except TimeoutError:
            continue
    raise TimeoutError("the consumer's group subscription never came alive")


# --- the poller, on a clock the test moves -------------------------------------------------------

class ManualClock:
    """time.monotonic and asyncio.sleep for a Poller, with time moved by the test: a sleeper wakes
    only when `advance()` carries the clock past its deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future]] = []
        self._asleep = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        self._asleep.set()
        await future

    def sleepers(self) -> int:
        return sum(1 for _, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        """Move the clock; if that wakes the poller, return once it has polled and sleeps again."""
        self.now += seconds
        due = [future for deadline, future in self._sleepers if deadline <= self.now and not future.done()]
        self._sleepers = [(deadline, future) for deadline, future in self._sleepers if deadline > self.now]
        if due:
            self._asleep.clear()
            for future in due:
                future.set_result(None)
            await self.wait_until_asleep()

    async def wait_until_asleep(self) -> None:
        await asyncio.wait_for(self._asleep.wait(), WAIT)


def test_poller_polls_once_per_interval_for_all_watchers_and_sends_only_changes():
    results = iter(["A", "B", "B", "C"])
    calls = []

    def produce():
        calls.append(1)
        return next(results)

    class PollWatcher:
        def __init__(self):
            self.received = []

        async def deliver(self, received):
            self.received.append(received["html"])

    async def scenario():
        clock = ManualClock()
        hub = Poller("test", produce, interval=3.0, clock=clock, sleep=clock.sleep)
        watchers = [PollWatcher() for _ in range(50)]
        for watcher in watchers:
            await hub.watch(watcher)
        snapshots = await asyncio.gather(*(hub.current() for _ in watchers))
        await clock.wait_until_asleep()
        polls = {"snapshots": len(calls)}

        await clock.advance(2.9)  # not yet an interval: nothing happens
        late = PollWatcher()
        await hub.watch(late)
        late_snapshot = await hub.current()  # fresh enough: no poll of its own
        polls["before the interval"] = len(calls)

        await clock.advance(0.1)  # t = 3: "B", new, sent to every watcher
        await clock.advance(3.0)  # t = 6: "B" again: nothing sent
        await clock.advance(3.0)  # t = 9: "C"
        polls["after three intervals"] = len(calls)

        for watcher in [*watchers, late]:
            await hub.unwatch(watcher)
        await clock.advance(30.0)  # nobody watches: no more polls
        polls["after everyone left"] = len(calls)
        return snapshots, late_snapshot, watchers, late, polls, clock.sleepers()

    snapshots, late_snapshot, watchers, late, polls, sleepers = run(scenario)
    assert set(snapshots) == {"A"} and late_snapshot == "A"
    assert polls == {"snapshots": 1, "before the interval": 1, "after three intervals": 4, "after everyone left": 4}
    assert all(watcher.received == ["B", "C"] for watcher in [*watchers, late])
    assert sleepers == 0, "the poller still waits to poll with nobody watching"
