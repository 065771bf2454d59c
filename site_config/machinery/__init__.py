"""The classes and functions that settings.py, urls.py and asgi.py plug in by dotted path.

Configuration (what is chosen) lives one level up; how each choice works lives here:
- `redis_roles`: which Redis each role uses (one URL each, Sentinel too) and the one client factory;
- `broker`: the Redis and Sentinel transports that reconnect after a Redis restart or failover;
- `cache`, `results`: the cache and result backends that survive a Redis outage;
- `middleware`: the request middleware; `checks`: the project's deploy checks;
- `client_address`, `throttles`, `websocket_origin`, `websocket_close`: the doors (who is asking,
  how often, from which page) and the websocket close shim for daphne;
- `admin_lookups`: the admin list filters by allow-list that every admin of ours uses;
- `rate_limit`: the site's one rate limiter (and the per-account cap on open connections);
- `staff`: the one "active staff" check (`is_active_staff`, `staff_required`);
- `context_processors`, `errors`, `logging_filters`: what every template, refusal and log line gets;
- `storage`: stored files given to a browser (a pre-signed redirect, or a stream of chunks);
  `backpressure`: the ASGI middleware that makes a streamed response wait for its client under daphne;
- `stored_texts`: texts rows keep as an identifier with parameters, put into words when shown.
"""
