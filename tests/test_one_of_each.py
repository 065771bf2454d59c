"""One rate limiter and one "active staff" check: the code states each decision in one place."""

from __future__ import annotations

import re

from tests.conftest import BASE_DIR

PACKAGES = ("blog", "dashboard", "site_config", "weather")


def _sources():
    for package in PACKAGES:
        for source in sorted((BASE_DIR / package).rglob("*.py")):
            if "migrations" not in source.parts:
                yield source.relative_to(BASE_DIR).as_posix(), source.read_text(encoding="utf-8")


def test_only_the_staff_module_decides_who_is_active_staff():
    decides = re.compile(r"\.is_staff\b(?!\s*=)|staff_member_required")
    offenders = [path for path, text in _sources()
                 if path != "site_config/machinery/staff.py" and decides.search(text)]
    assert offenders == [], "use site_config.machinery.staff (is_active_staff, staff_required)"


def test_only_the_rate_limiter_counts_attempts():
    counts = re.compile(r"\.incr\(|\.incrby\(|INCRBY|SimpleRateThrottle|\bINCR\b")
    # The cache backend implements the cache API's incr(); the weather's upstream budget is one shared
    # quota with partial grants (its own script), not a limit per visitor.
    allowed = ("site_config/machinery/rate_limit.py", "site_config/machinery/cache.py", "weather/client.py")
    offenders = [path for path, text in _sources() if path not in allowed and counts.search(text)]
    assert offenders == [], "count in site_config.machinery.rate_limit"
