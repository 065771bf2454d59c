"""The live machinery: how a task's state reaches every browser that watches it.

The path, one job per module, in the order a progress report travels:

1. ``base_task``  LiveTask, the base class of every Celery task (``task_cls`` in site_config/celery.py):
   ``report_progress()`` and the state changes (started, retry, success, failure).
2. ``throttle``   which progress reports go out (first, last, at most every N ms or 1 %).
3. ``state``      TaskView: one task's state as pages show it, from a row or updated in memory.
4. ``store``      reading and writing the task rows (django-celery-results' TaskResult + TaskLaunch).
5. ``signals``    Celery signals: the PENDING row before publish, "received", revocations.
6. ``publish``    ``publish_view()``: the one function that tells a task's watchers (once per language).
7. ``fragments``  the HTML pushed, rendered once per language from the pages' own template partials.
8. ``contract``   the message fields and the group names (per language) every other module uses.
9. ``languages``  which languages someone watches in (Redis keys), and a socket's own language.
10. ``publisher`` a background thread per process hands messages to the channel layer (latest wins).
11. ``fanout``    per daphne process: one subscription per group, messages handed to local consumers.
12. ``consumers`` the base websocket consumers: authorise, snapshot first, then pushed updates.
13. ``poller``    per daphne process: one producer for pages whose fragment is polled, not pushed.
"""
