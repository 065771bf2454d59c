"""Redis by role: which Redis each part of the site uses, and the one factory for its clients.

Roles (docs/configuration.md, "Redis"), each its own URL that defaults to REDIS_URL:
  broker    Celery's queues                          CELERY_BROKER_URL   must never evict
  channels  the channel layer (live pages' pub/sub)  CHANNEL_LAYER_REDIS_URL
  cache     Django's cache (recomputable figures)    CACHE_REDIS_URL     may evict (allkeys-lru)
  keys      the site's own keys: throttles, metrics,  REDIS_KEYS_URL      must never evict
            worker heartbeats, cancel flags, the weather budget and answers

A URL is a redis-py URL (redis://, rediss://, unix://) or names a Sentinel-managed Redis in the one
form this module understands and translates for each library:

    sentinel://[[user]:password@]host:port[,host:port...]/<master name>[/<db>][?sentinel_password=...]

The user and password are the Redis master's; `sentinel_password` is the sentinels' own, when they
ask for one. kombu gets its `sentinel://a;sentinel://b` form and `master_name` transport option,
channels-redis its Sentinel host dictionary, and redis-py (the cache and our keys) a
`Sentinel(...).master_for(...)` client, which asks the sentinels again after a failover.

Nothing here imports Django at module level: settings.py uses the translations.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

ROLES = ("broker", "channels", "cache", "keys")
SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    """A Sentinel-managed Redis, parsed from the documented sentinel:// form."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def sentinel_kwargs(self) -> dict:
        return {"password": self.sentinel_password} if self.sentinel_password else {}

    def master_kwargs(self) -> dict:
        kwargs: dict = {"db": self.db}
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel(url: str) -> SentinelTarget:
    """The sentinels, master name and db of a sentinel:// URL; ValueError with the expected form."""
    form = "sentinel://[[user]:password@]host:port[,host:port...]/<master name>[/<db>]"
    scheme, _, rest = url.partition("://")
    if scheme.lower() != SENTINEL_SCHEME or not rest:
        raise ValueError(f"{url!r} is not a sentinel URL; expected {form}")
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = []
    for item in hosts.split(","):
        item = item.strip()
        if item.startswith("["):  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise ValueError(f"{url!r}: an empty sentinel address; expected {form}")
        try:
            sentinels.append((host, int(port) if port else DEFAULT_SENTINEL_PORT))
        except ValueError:
            raise ValueError(f"{url!r}: {port!r} is not a port; expected {form}") from None
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise ValueError(f"{url!r} names no master (or too much after it); expected {form}")
    try:
        db = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise ValueError(f"{url!r}: the db {parts[1]!r} is not a number; expected {form}") from None
    options = {key: values[-1] for key, values in parse_qs(query).items()}
    unknown = set(options) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; expected {form}"
                         "[?sentinel_password=...]")
    return SentinelTarget(sentinels=tuple(sentinels), master=unquote(parts[0]), db=db, username=username,
                          password=password, sentinel_password=options.get("sentinel_password") or None)


def url_db(url: str) -> int:
    """The database number a Redis or sentinel URL selects (0 when it names none)."""
    if is_sentinel(url):
        return parse_sentinel(url).db
    parsed = urlsplit(url)
    query_db = parse_qs(parsed.query).get("db")
    if query_db:
        return int(query_db[-1])
    path = parsed.path.strip("/") if parsed.scheme in ("redis", "rediss") else ""
    return int(path) if path.isdigit() else 0


# --- translations, one per library ---


def kombu_broker(url: str) -> tuple[str, dict]:
    """(broker URL, extra transport options) for Celery/kombu."""
    if not is_sentinel(url):
        return url, {}
    target = parse_sentinel(url)
    auth = ""
    if target.username or target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
    urls = ";".join(f"sentinel://{auth}{_host(host)}:{port}/{target.db}" for host, port in target.sentinels)
    options: dict = {"master_name": target.master}
    if target.sentinel_password:
        options["sentinel_kwargs"] = target.sentinel_kwargs()
    return urls, options


def channels_host(url: str):
    """One entry of channels-redis's "hosts": the URL itself, or its Sentinel dictionary."""
    if not is_sentinel(url):
        return url
    target = parse_sentinel(url)
    host = {"sentinels": [list(pair) for pair in target.sentinels], "master_name": target.master,
            **target.master_kwargs()}
    if target.sentinel_password:
        host["sentinel_kwargs"] = target.sentinel_kwargs()
    return host


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class RolePool:
    """Django's Redis cache `pool_class`: a plain pool for redis:// URLs, a Sentinel-managed one
    for sentinel:// (Django calls `pool_class.from_url(location, **OPTIONS)`)."""

    @classmethod
    def from_url(cls, url: str, **options):
        import redis
        from redis.sentinel import Sentinel, SentinelConnectionPool

        if not is_sentinel(url):
            return redis.ConnectionPool.from_url(url, **options)
        target = parse_sentinel(url)
        timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
        manager = Sentinel(list(target.sentinels), sentinel_kwargs={**timeouts, **target.sentinel_kwargs()})
        return SentinelConnectionPool(target.master, manager, **target.master_kwargs(), **options)


# --- the factory ---

_lock = threading.Lock()
_clients: dict = {}


def role_url(role: str) -> str:
    """The URL a role uses now: its own setting when set, else REDIS_URL."""
    from django.conf import settings

    urls = {"broker": settings.BROKER_REDIS_URL, "channels": settings.CHANNEL_LAYER_REDIS_URL,
            "cache": settings.CACHE_REDIS_URL, "keys": settings.REDIS_KEYS_URL}
    if role not in urls:
        raise ValueError(f"unknown Redis role {role!r}; one of {', '.join(ROLES)}")
    return urls[role] or settings.REDIS_URL


def redis_client(role: str, *, timeout: float = 2.0):
    """A redis-py client for a role, shared by the process (clients are thread-safe, and their
    pools reconnect after a fork); short timeouts, so a Redis that does not answer costs seconds,
    never a hung thread. For a Sentinel-managed Redis, the master the sentinels name now."""
    import redis

    url = role_url(role)
    key = (role, url, timeout)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
                if is_sentinel(url):
                    from redis.sentinel import Sentinel

                    target = parse_sentinel(url)
                    manager = Sentinel(list(target.sentinels), sentinel_kwargs={**options, **target.sentinel_kwargs()})
                    client = manager.master_for(target.master, **options, **target.master_kwargs())
                else:
                    client = redis.Redis.from_url(url, **options)
                _clients[key] = client
    return client


def async_connection_pool(role: str, *, max_connections: int, timeout: float = 2.0):
    """A redis.asyncio connection pool for a role (one per event loop: the caller keeps it)."""
    import redis.asyncio as aioredis

    url = role_url(role)
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not is_sentinel(url):
        return aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout,
                                                        **options)
    from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

    target = parse_sentinel(url)
    manager = Sentinel(list(target.sentinels), sentinel_kwargs={**options, **target.sentinel_kwargs()})
    return SentinelConnectionPool(target.master, manager, max_connections=max_connections, **options,
                                  **target.master_kwargs())
