"""The Redis broker transport, with the one fix that lets a worker outlive a Redis restart.

When Redis goes away while a task is running (its message unacknowledged), Celery closes the broker
connection and reconnects. Closing the channel asks kombu's QoS to put the unacknowledged message
back, which needs a Redis client; by then the transport has already dropped its connection info,
and kombu 5.7 raises `AttributeError: 'NoneType' object has no attribute 'hostname'`. Celery treats
that as unrecoverable and the worker exits (and under honcho the whole site with it).

Here that restore is skipped when the connection is already gone. Nothing is lost by skipping it:
the message is still in Redis's "unacked" hash (or, if Redis itself lost it, nowhere at all, which
no restore could help), and kombu's `restore_visible` gives it back to a consumer after the
visibility timeout. The running task goes on in its pool process; when it finishes, its ack
arrives on the old, closed channel, which fails the same way: the ack is then made with a fresh
client on the broker URL, so the message is not delivered again an hour later.

The same holds for a Sentinel-managed broker (kombu's sentinel transport) across a failover: the
fresh client asks the sentinels for the master of the moment. Used with redis://, rediss:// and
sentinel:// broker URLs (settings.CELERY_BROKER_TRANSPORT).
"""

from __future__ import annotations

import logging

from kombu.transport import redis

from site_config.machinery.redis_roles import redis_client

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def restore_unacked_once(self, stderr=None):
        if getattr(self.channel.connection, "client", None) is None:
            if self._delivered:
                logger.warning(
                    "broker connection already closed: %d unacknowledged message(s) stay in Redis and are "
                    "redelivered after the visibility timeout", len(self._delivered))
            self._on_collect.cancel()
            self._delivered.restored = True
            self._delivered.clear()
            return None
        return super().restore_unacked_once(stderr)


    def ack(self, delivery_tag):
        if getattr(self.channel.connection, "client", None) is not None:
            return super().ack(delivery_tag)
        try:
            self._remove_from_indices(delivery_tag, redis_client("broker", timeout=5).pipeline()).execute()
        except Exception:  # Redis down again: the message comes back after the visibility timeout
            logger.warning("could not acknowledge message %s after a reconnect", delivery_tag, exc_info=True)
        self._delivered.pop(delivery_tag, None)
        return None

    def reject(self, delivery_tag, requeue=False):
        if getattr(self.channel.connection, "client", None) is not None:
            return super().reject(delivery_tag, requeue=requeue)
        if not requeue:
            return self.ack(delivery_tag)
        # Requeued by a worker that lost its connection: Redis gives it back after the visibility timeout.
        self._delivered.pop(delivery_tag, None)
        return None


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel


class SentinelChannel(redis.SentinelChannel):
    QoS = QoS


class SentinelTransport(redis.SentinelTransport):
    Channel = SentinelChannel
