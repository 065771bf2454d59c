"""The site's ASGI application (site_config.asgi) for the tests' daphne, with the tests' tasks
registered (tests/worker_tasks.py), so the pages it serves know the gated jobs the tests run: their
retry, their download panel."""

from site_config.asgi import application  # sets Django up before the tasks' modules are imported
from tests import worker_tasks  # noqa: F401

__all__ = ["application"]
