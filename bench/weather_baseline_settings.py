"""Settings for bench/weather_bench.py: the site's, plus the two baseline views' URLs (bench only)."""

from site_config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.weather_baseline_urls"
