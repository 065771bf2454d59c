"""Redis by role: the broker, the channel layer and the cache each on a Redis of its own, the cache
one evicting and flushed mid-job; two sites on db 0 and db 1 of one Redis; and the one sentinel://
form translated for each library."""

from __future__ import annotations

import time
import urllib.request

import pytest
import redis

from dashboard.live.contract import localized, task_group
from site_config.machinery import redis_roles
from tests.conftest import session_cookie, start_daphne, start_worker
from tests.livetools import collect_until_final, percent_of, recv_until_state, state_of, wait_for, ws_connect
from tests.roles_helpers import api_call, demo_job_start, redis_server, staff_with_token

DEMO_AND_ACT = ("dashboard.start_demo_job", "dashboard.act_on_tasks")


# --- the sentinel:// form and its translations ---


def test_one_sentinel_url_is_translated_for_kombu_channels_and_redis_py():
    url = "sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/site/2?sentinel_password=watch"
    target = redis_roles.parse_sentinel(url)
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (target.master, target.db, target.password, target.sentinel_password) == ("site", 2, "s@cret", "watch")

    broker, options = redis_roles.kombu_broker(url)
    assert broker == ("sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://:s%40cret@10.0.0.2:26379/2;"
                      "sentinel://:s%40cret@[::1]:26380/2")
    assert options == {"master_name": "site", "sentinel_kwargs": {"password": "watch"}}

    assert redis_roles.channels_host(url) == {
        "sentinels": [["10.0.0.1", 26379], ["10.0.0.2", 26379], ["::1", 26380]], "master_name": "site",
        "db": 2, "password": "s@cret", "sentinel_kwargs": {"password": "watch"},
    }
    # A plain Redis URL passes through untouched.
    assert redis_roles.kombu_broker("redis://h:1/3") == ("redis://h:1/3", {})
    assert redis_roles.channels_host("redis://h:1/3") == "redis://h:1/3"
    assert redis_roles.url_db("redis://h:1/3") == 3 and redis_roles.url_db(url) == 2


@pytest.mark.parametrize("bad", ["sentinel://h:1", "sentinel://h:x/m", "sentinel://h:1/m/zero", "sentinel:///m",
                                 "sentinel://h:1/m?ssl=true"])
def test_a_malformed_sentinel_url_is_refused_with_the_expected_form(bad):
    with pytest.raises(ValueError, match="expected sentinel://"):
        redis_roles.parse_sentinel(bad)


def test_each_role_defaults_to_redis_url_and_may_have_its_own(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHE_REDIS_URL = "redis://127.0.0.1:2/0"
    assert redis_roles.role_url("keys") == "redis://127.0.0.1:1/0"
    assert redis_roles.role_url("cache") == "redis://127.0.0.1:2/0"
    with pytest.raises(ValueError, match="unknown Redis role"):
        redis_roles.role_url("everything")


# --- three Redis servers: broker (and our keys), channel layer, an evicting cache ---


@pytest.fixture
def three_redis(transactional_db):
    broker = redis_server("broker")
    layer = redis_server("layer")
    cache = redis_server("cache", maxmemory="2mb", maxmemory_policy="allkeys-lru")
    env = {"REDIS_URL": broker.url, "CHANNEL_LAYER_REDIS_URL": layer.url, "CACHE_REDIS_URL": cache.url,
           "LIVE_PROBE_INTERVAL": "0.5"}
    worker = start_worker("worker-three-redis", env=env)
    web = start_daphne("daphne-three-redis", env=env)
    try:
        yield {"broker": broker, "layer": layer, "cache": cache, "worker": worker, "web": web}
    finally:
        web.stop()
        worker.stop()
        for server in (broker, layer, cache):
            server.stop()


@pytest.mark.live
@pytest.mark.serial
def test_three_redis_by_role_with_the_cache_flushed_mid_job(three_redis):
    web = three_redis["web"]
    user, token = staff_with_token("rolf", *DEMO_AND_ACT)
    cache = redis.Redis(port=three_redis["cache"].port)
    layer = redis.Redis(port=three_redis["layer"].port)
    broker = redis.Redis(port=three_redis["broker"].port)

    # Pages fill the cache's Redis (the task list's state counts), never the broker's.
    assert api_call(web, "GET", "/api/tasks/", token)[0] == 200
    cookie = session_cookie(user)
    request = urllib.request.Request(f"{web.url}/dashboard/tasks/counts/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    task_id = demo_job_start(web, token, steps=30, delay_ms=150)
    with ws_connect(web, f"/ws/tasks/{task_id}/", session_cookie(user)) as ws:
        before = recv_until_state(ws, "PROGRESS", timeout=60)
        # The live page is subscribed on the channel layer's Redis, and only there.
        assert any(name.startswith(b"site") for name in layer.pubsub_channels()), layer.pubsub_channels()
        assert not any(name.startswith(b"site") for name in broker.pubsub_channels())
        assert cache.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        assert cache.dbsize() > 0 and not broker.keys("site:1:*")
        cache.flushall()
        after = collect_until_final(ws, timeout=60)
    assert state_of(after[-1]) == "SUCCESS"
    percents = [int(p.rstrip("%")) for p in map(percent_of, before + after) if p and p.endswith("%")]
    assert percents[-1] == 100 and len([m for m in after if state_of(m) == "PROGRESS"]) >= 3

    # A cancel still works with the cache flushed: its flag lives with our keys, not in the cache.
    task_id = demo_job_start(web, token, steps=200, delay_ms=100)
    with ws_connect(web, f"/ws/tasks/{task_id}/", session_cookie(user)) as ws:
        recv_until_state(ws, "PROGRESS", timeout=60)
        status, _headers, body = api_call(web, "POST", f"/api/tasks/{task_id}/cancel/", token)
        assert status == 200, body
        cache.flushall()
        final = collect_until_final(ws, timeout=60)
    assert state_of(final[-1]) == "REVOKED"
    for client in (cache, layer, broker):
        client.close()


# --- two sites on one Redis, db 0 and db 1 ---


@pytest.mark.live
@pytest.mark.serial
def test_two_sites_on_db_0_and_db_1_of_one_redis_never_see_each_others_live_messages(transactional_db):
    shared = redis_server("shared")
    production = {"REDIS_URL": f"redis://127.0.0.1:{shared.port}/0"}
    staging = {"REDIS_URL": f"redis://127.0.0.1:{shared.port}/1"}
    worker = start_worker("worker-db0", env=production)
    web0 = start_daphne("daphne-db0", env=production)
    web1 = start_daphne("daphne-db1", env=staging)
    shared_client = redis.Redis(port=shared.port)
    try:
        user, token = staff_with_token("dora", "dashboard.start_demo_job")
        task_id = demo_job_start(web0, token, steps=12, delay_ms=150)
        # The same task watched on both sites (they share this test's database, not their Redis db):
        # production sees it move; staging gets its snapshot from the database, and nothing live.
        with ws_connect(web0, f"/ws/tasks/{task_id}/", session_cookie(user)) as ws0, \
                ws_connect(web1, f"/ws/tasks/{task_id}/", session_cookie(user)) as ws1:
            snapshot = ws1.recv(timeout=20)
            assert state_of(snapshot) in ("PENDING", "RECEIVED", "STARTED", "PROGRESS")
            # Each site listens under its own prefix: pub/sub channels are shared by every db.
            group = localized(task_group(task_id), "en")  # both pages are read in English
            wait_for(lambda: len(set(shared_client.pubsub_channels(f"*__group__{group}"))) == 2, timeout=10)
            channels = set(shared_client.pubsub_channels(f"*__group__{group}"))
            assert channels == {f"site__group__{group}".encode(), f"site-db1__group__{group}".encode()}
            messages = collect_until_final(ws0, timeout=60)
            assert state_of(messages[-1]) == "SUCCESS"
            assert len([m for m in messages if state_of(m) == "PROGRESS"]) >= 3
            leaked = []
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    leaked.append(ws1.recv(timeout=max(deadline - time.monotonic(), 0.01)))
                except TimeoutError:
                    break
            assert not [m for m in leaked if state_of(m) in ("PROGRESS", "SUCCESS")], leaked
    finally:
        shared_client.close()
        web1.stop()
        web0.stop()
        worker.stop()
        shared.stop()
