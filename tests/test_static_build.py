"""Static files are built with the code: the release step only migrates, and a web process started
from a build folder where release never ran serves every static file under its hashed name."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import urllib.request

import pytest

from site_config.devtools.local_redis import free_port
from tests.conftest import BASE_DIR, BIN, Process
from tests.plugin import REDIS, WORKDIR

pytestmark = pytest.mark.live

HASHED_CSS = re.compile(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"')
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "var", "staticfiles", "__pycache__", "test-artifacts",
                                    ".pytest_cache", "node_modules")


def _procfile(name: str) -> str:
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def _production_env(database_url: str) -> dict[str, str]:
    import os

    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1", DJANGO_DEBUG="0",
               DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="127.0.0.1",
               DATABASE_URL=database_url, REDIS_URL=REDIS.url, TRUSTED_PROXIES="127.0.0.1",
               SITE_URL="https://127.0.0.1")
    return env


def test_release_only_migrates_and_web_serves_static_files_built_with_the_code(tmp_path_factory):
    assert _procfile("release") == "python manage.py migrate --noinput"
    build = tmp_path_factory.mktemp("build") / "site"
    shutil.copytree(BASE_DIR, build, ignore=NOT_COPIED)
    database_url = f"sqlite:///{WORKDIR / f'static-build-{secrets.token_hex(4)}.sqlite3'}"
    env = _production_env(database_url)

    # The build, where the code is: the Makefile's `static` step (no database, no secret of the site).
    recipe = (BASE_DIR / "Makefile").read_text()
    assert "manage.py collectstatic" in recipe.split("\nstatic:", 1)[1].split("\n\n", 1)[0]
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], cwd=build,
                   env={**env, "DJANGO_SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": "sqlite:///:memory:"},
                   check=True, timeout=300)
    assert (build / "staticfiles" / "staticfiles.json").exists()

    # The release, elsewhere (here: the checkout the tests run from, its static folder untouched).
    release_static = WORKDIR / f"release-static-{secrets.token_hex(4)}"
    subprocess.run(["sh", "-c", _procfile("release")], cwd=BASE_DIR, check=True, timeout=300, capture_output=True,
                   env={**env, "DJANGO_STATIC_ROOT": str(release_static)})
    assert not release_static.exists(), "release wrote static files"

    # The web process, from the build folder (never a release there).
    port = free_port()
    web = Process("web-from-build", ["sh", "-c", _procfile("web")],
                  {**env, "PORT": str(port), "BIND_ADDRESS": "127.0.0.1"}, cwd=build)
    try:
        web.wait_for_log("Listening on TCP address", timeout=60)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-Proto": "https"})
        home = urllib.request.urlopen(request, timeout=20).read().decode()
        stylesheet = HASHED_CSS.search(home)
        assert stylesheet, "the stylesheet is not served under a hashed name"
        css_request = urllib.request.Request(f"http://127.0.0.1:{port}{stylesheet.group(1)}",
                                             headers={"X-Forwarded-Proto": "https"})
        with urllib.request.urlopen(css_request, timeout=20) as css:
            assert css.status == 200 and "immutable" in css.headers.get("Cache-Control", "")
            assert b"{" in css.read()
    finally:
        web.stop()
