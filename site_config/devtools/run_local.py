"""`make run`: everything a fresh clone needs to serve the site with a worker and beat.

Uses REDIS_URL when set; else starts a private Redis for this session (stopped on exit), never one
that happens to answer on 6379. Then migrates, makes sure a staff account exists, and starts
the Procfile's web, worker and beat processes under a small supervisor that restarts a process that
exits. Ctrl-C stops everything, letting a running job finish (Ctrl-C twice to hurry it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from site_config.devtools.local_redis import PrivateRedis, redis_answers

BASE_DIR = Path(__file__).resolve().parents[2]  # the project root: site_config/devtools/run_local.py


def main() -> int:
    env = dict(os.environ)
    env.setdefault("BIND_ADDRESS", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("DJANGO_DEBUG", "1")  # local development; settings default to off
    # The Procfile names daphne and celery: take them from this interpreter's environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    private = None
    if env.get("REDIS_URL"):
        parsed = urlparse(env["REDIS_URL"])
        if not redis_answers(parsed.hostname or "127.0.0.1", parsed.port or 6379):
            print(f"REDIS_URL={env['REDIS_URL']} does not answer. Start that Redis, or unset REDIS_URL.", file=sys.stderr)
            return 1
    else:
        # Never a Redis that happens to answer on 6379: another project's Celery on it would share our
        # queues, and the channel layer's pub/sub ignores database numbers.
        private = PrivateRedis(BASE_DIR / "var" / "redis").start()
        env["REDIS_URL"] = private.url
        print(f"Started a private Redis for this session at {private.url} (stopped on exit).")
    # --- weather: without WEATHER_GEOCODING_URL / WEATHER_FORECAST_URL, serve the embedded fake
    # Open-Meteo (weather/fake_open_meteo.py) on a free port, so the demo works offline; stopped on exit.
    fake_weather = None
    if not (env.get("WEATHER_GEOCODING_URL") or env.get("WEATHER_FORECAST_URL")):
        from site_config.devtools.local_redis import free_port  # noqa: PLC0415

        weather_port = free_port()
        fake_weather = subprocess.Popen(
            [sys.executable, "-m", "weather.fake_open_meteo", "--port", str(weather_port), "--latency-ms", "400"],
            cwd=BASE_DIR,
        )
        env["WEATHER_GEOCODING_URL"] = f"http://127.0.0.1:{weather_port}/v1/search"
        env["WEATHER_FORECAST_URL"] = f"http://127.0.0.1:{weather_port}/v1/forecast"
        print(f"Weather: a local fake Open-Meteo on port {weather_port} (set WEATHER_GEOCODING_URL and "
              "WEATHER_FORECAST_URL to use the real one).")
    # --- end weather ---
    try:
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "1"], env=env, check=True, cwd=BASE_DIR)
        subprocess.run([*manage, "ensure_staff"], env=env, check=True, cwd=BASE_DIR)
        print(f"\nServing http://{env['BIND_ADDRESS']}:{env['PORT']}/  (Ctrl-C stops web, worker, beat)\n", flush=True)
        # The supervisor keeps each process up and stops them gently (site_config/devtools/supervisor.py).
        from site_config.devtools.supervisor import Supervisor, procfile_entries  # noqa: PLC0415

        entries = procfile_entries(BASE_DIR / "Procfile")
        return Supervisor({name: entries[name] for name in ("web", "worker", "beat")}, env=env, cwd=BASE_DIR).run()
    except subprocess.CalledProcessError as error:
        return error.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if fake_weather:  # weather: the embedded fake Open-Meteo started above
            fake_weather.terminate()
            fake_weather.wait(timeout=10)
        if private:
            private.stop()


if __name__ == "__main__":
    sys.exit(main())
