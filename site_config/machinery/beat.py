"""One active beat among any number started: django-celery-beat's DatabaseScheduler behind a lease.

Every beat process (the Procfile's `beat` line, scaled or overlapping in a rolling deploy) runs this
scheduler. One of them holds a lease in Redis (`SET key token NX PX`, renewed by a compare-and-renew
script that only the holder's token passes) and sends; the others stand by: they read nothing from
and write nothing to the schedule tables, and try for the lease every few seconds. The active beat
renews the lease at every tick and checks it again right before each send, so a beat that lost it
(paused, cut off from Redis) stops sending before another takes over. When the active beat dies,
its lease expires after BEAT_LEASE_SECONDS and a standby takes over within a further
BEAT_LEASE_SECONDS / 5; a beat that stops cleanly releases the lease at once.

DatabaseScheduler writes run counts and last-run times back only every few minutes; a beat taking
over reads them, so it would send again what the previous beat sent and had not written down (a
crontab's run, a one-off). Here every send is written back as soon as it is sent. A one-off schedule
(django-celery-beat's `one_off`, which clocked schedules require) is moreover claimed in the
database right before it is sent, by a conditional update from "enabled, never run" to "run once":
only one beat can win it. A beat that dies in the instant between the claim and the send loses that
one-off (the log shows the claim without the send); it never sends it twice.

Times compared across hosts are Redis's: the lease expires by Redis's clock (PX), never by a
comparison of local clocks.

A schedule added or changed in the moment after a beat reads the schedule is read at its next tick.
DatabaseScheduler alone would miss it until some later change: it notes the time of the last change
at its first check after the read, not at the read, so a change in between looks already seen. Here
that time is noted right before the read.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db.models import F
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

LEASE_KEY = "site:beat-lease"
NO_CHANGE_YET = datetime.min.replace(tzinfo=UTC)

# Renews the lease when the caller still holds it; false when it expired or another holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redis_client() -> redis.Redis:
    from site_config.machinery.redis_roles import redis_client as role_client

    return role_client("keys")


class Lease:
    """A lease in Redis held under a token of this process: acquired with SET NX PX, renewed and
    released only by the holder. Any Redis error counts as "not held"."""

    def __init__(self, client: redis.Redis, *, key: str = LEASE_KEY, seconds: float, token: str | None = None) -> None:
        self.client, self.key = client, key
        self.ms = max(int(seconds * 1000), 100)
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """Renew the lease if this process holds it, else take it if it is free; whether it is held."""
        try:
            if self._renew(keys=[self.key], args=[self.token, self.ms]):
                return True
            return bool(self.client.set(self.key, self.token, nx=True, px=self.ms))
        except (redis.RedisError, OSError) as error:
            logger.warning("beat lease: Redis cannot be reached (%s); not sending until it can", error)
            return False

    def holder(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except (redis.RedisError, OSError):
            return None
        return value.decode() if value else None

    def release(self) -> None:
        try:
            self._release(keys=[self.key], args=[self.token])
        except (redis.RedisError, OSError):
            pass  # it expires by itself


class LeasedDatabaseScheduler(DatabaseScheduler):
    """DatabaseScheduler that sends only while it holds the beat lease (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        seconds = settings.BEAT_LEASE_SECONDS
        self.lease = Lease(redis_client(), seconds=seconds)
        self.renew_every = seconds / 3  # renewed at least this often while active
        self.standby_poll = seconds / 5  # a standby asks for the lease this often
        self.active = False
        # Each send's run count and time are written back at once, not every three minutes: a beat
        # taking over reads them, and would otherwise send again what the previous one just sent.
        kwargs["sync_every_tasks"] = 1
        super().__init__(*args, **kwargs)

    # --- standing by: nothing read from or written to the schedule tables ---

    def setup_schedule(self) -> None:
        """Deferred until this beat holds the lease (django-celery-beat's set-up writes default entries)."""
        if self.active:
            super().setup_schedule()

    def tick(self, *args, **kwargs) -> float:
        if not self.lease.hold():
            if self.active:
                self._stand_by("the lease went to another beat or could not be renewed")
            return self.standby_poll
        if not self.active:
            self._take_over()
        return min(super().tick(*args, **kwargs), self.renew_every)

    def _take_over(self) -> None:
        logger.info("beat: holding the lease (%s): sending scheduled tasks", self.lease.token)
        self.active = True
        # Everything read afresh from the database: another beat may have sent and saved meanwhile.
        self._initial_read = True
        self._schedule = None
        self._heap = None
        self.old_schedulers = None
        self._dirty = set()
        # The time of the last change as it stands before the rows are read (the module docstring);
        # with no change recorded yet, any change made from now on is newer.
        self._last_timestamp = self.Changes.last_change() or NO_CHANGE_YET
        super().setup_schedule()

    def _stand_by(self, why: str) -> None:
        logger.warning("beat: standing by (%s); another beat sends meanwhile", why)
        self.active = False
        # What this beat had not written back is dropped: the active beat's rows are the truth now.
        self._dirty = set()
        self._heap = None

    # --- sending: the lease checked before each send, one-offs claimed in the database ---

    def apply_entry(self, entry, producer=None) -> None:
        if not self.lease.hold():
            logger.warning("beat: lease lost before sending %s; not sent", entry.name)
            self._stand_by("lease lost")
            return
        model = getattr(entry, "model", None)
        if model is not None and model.one_off and not self._one_off_claim(model):
            logger.info("beat: one-off %s was already sent (by this or another beat); not sent again", entry.name)
            return
        super().apply_entry(entry, producer=producer)

    def _one_off_claim(self, model: PeriodicTask) -> bool:
        """Record a one-off's run before sending it: only the beat that moves it from "never run" wins."""
        claimed = PeriodicTask.objects.filter(pk=model.pk, enabled=True, total_run_count=0).update(
            total_run_count=F("total_run_count") + 1, last_run_at=model.last_run_at,
        )
        return bool(claimed)

    def sync(self) -> None:
        if self.active:
            super().sync()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.active:
                self.lease.release()
                self.active = False
                logger.info("beat: lease released")

    @property
    def info(self) -> str:
        return f"    . lease -> {LEASE_KEY} ({settings.BEAT_LEASE_SECONDS:g} s, one active beat)"
