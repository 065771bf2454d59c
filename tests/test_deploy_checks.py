"""`manage.py check --deploy`: the project's checks stand in for the Django ones its middleware hides.

Each bad setting is applied with override_settings on top of production-like values, and the
deploy checks are run the way `check --deploy` runs them (every registered check, deploy included).
"""

from __future__ import annotations

import subprocess
import sys
from unittest.mock import patch

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from tests.conftest import BASE_DIR

# What settings.py sets when DJANGO_DEBUG is off (the tests run with DEBUG on).
PRODUCTION = {
    "DEBUG": False,
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECRET_KEY": "a-long-random-production-secret-key-" + "0123456789abcdef" * 3,
}


def deploy_check_ids(**overrides) -> set[str]:
    """Ids of the security checks `check --deploy` reports with these settings (silenced ones left out)."""
    with override_settings(**{**PRODUCTION, **overrides}):
        messages = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        silenced = set(settings.SILENCED_SYSTEM_CHECKS)
    return {message.id for message in messages if message.id not in silenced}


def test_production_settings_pass_every_deploy_check():
    assert deploy_check_ids() == set()


def test_exactly_the_three_middleware_path_checks_are_silenced():
    assert settings.SILENCED_SYSTEM_CHECKS == ["security.W001", "security.W002", "security.W003"]


BAD_SETTINGS = [
    ({"SECURE_HSTS_SECONDS": 0}, "site_config.W004"),
    ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": False}, "site_config.W005"),
    ({"SECURE_HSTS_PRELOAD": False}, "site_config.W021"),
    ({"SECURE_CONTENT_TYPE_NOSNIFF": False}, "site_config.W006"),
    ({"SECURE_SSL_REDIRECT": False}, "site_config.W008"),
    ({"X_FRAME_OPTIONS": "SAMEORIGIN"}, "site_config.W019"),
    ({"SECURE_REFERRER_POLICY": None}, "site_config.W022"),
    ({"SECURE_REFERRER_POLICY": "same-origin, nonsense"}, "site_config.E023"),
    ({"SECURE_CROSS_ORIGIN_OPENER_POLICY": "open-to-all"}, "site_config.E024"),
    ({"CSRF_COOKIE_SECURE": False}, "site_config.W016"),
    # Django's own, not hidden by the middleware: they must still fire.
    ({"SESSION_COOKIE_SECURE": False}, "security.W010"),
    ({"DEBUG": True}, "security.W018"),
]


@pytest.mark.parametrize(("overrides", "check_id"), BAD_SETTINGS, ids=[check_id for _, check_id in BAD_SETTINGS])
def test_each_bad_setting_fires_its_check(overrides, check_id):
    assert deploy_check_ids(**overrides) == {check_id}


def test_csrf_cookie_flag_does_not_matter_when_the_token_lives_in_the_session():
    assert deploy_check_ids(CSRF_COOKIE_SECURE=False, CSRF_USE_SESSIONS=True) == set()


def _without(path_suffix: str) -> list[str]:
    return [path for path in settings.MIDDLEWARE if not path.endswith(path_suffix)]


@pytest.mark.parametrize(("removed", "check_id"), [
    (".SecurityMiddleware", "site_config.W001"),
    (".XFrameOptionsMiddleware", "site_config.W002"),
    (".CsrfViewMiddleware", "site_config.W003"),
])
def test_missing_middleware_fires_our_check(removed, check_id):
    assert deploy_check_ids(MIDDLEWARE=_without(removed)) == {check_id}


def test_without_the_security_middleware_its_settings_are_not_reported_as_well():
    # Like Django: a missing middleware is one warning, not one per setting it would have applied.
    assert deploy_check_ids(MIDDLEWARE=_without(".SecurityMiddleware"), SECURE_SSL_REDIRECT=False) == {
        "site_config.W001"}


def test_with_djangos_own_classes_django_reports_and_we_stay_quiet():
    djangos = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    assert deploy_check_ids(MIDDLEWARE=djangos, SECURE_SSL_REDIRECT=False, X_FRAME_OPTIONS="SAMEORIGIN") == {
        "security.W008", "security.W019"}


def test_check_deploy_is_clean_with_settings_read_from_a_production_environment():
    """What `make check-deploy` runs: settings.py itself with DJANGO_DEBUG=0, not overridden values."""
    from tests.conftest import child_env

    env = child_env(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz",
                    DJANGO_ALLOWED_HOSTS="example.com", SITE_URL="https://example.com")
    for variable in ("DJANGO_SECURE_SSL_REDIRECT", "STORAGE_LOCAL_DISK_SHARED", "DATABASE_URL"):
        env.pop(variable, None)  # a new deployment's defaults: SQLite, uploads on this disk
    finished = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                              cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr + finished.stdout
    assert "no issues (3 silenced)" in finished.stdout


POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/site"  # named only: the checks do not connect


def storage_check_ids(engine: str = "django.db.backends.postgresql", **overrides) -> set[str]:
    databases = {**settings.DATABASES, "default": {**settings.DATABASES["default"], "ENGINE": engine}}
    with override_settings(**{**PRODUCTION, **overrides}), patch.dict(settings.DATABASES, databases):
        return {message.id for message in checks.run_checks(include_deployment_checks=True, tags=["storage"])}


def test_uploads_on_the_local_disk_warn_in_production_unless_shared_on_purpose():
    assert storage_check_ids() == {"site_config.W030"}  # the tests' storage: the file system
    assert storage_check_ids(STORAGE_LOCAL_DISK_SHARED=True) == set()
    assert storage_check_ids(DEBUG=True) == set()  # make run: one machine
    # With SQLite every process runs on this host (the database is a file here too).
    assert storage_check_ids(engine="django.db.backends.sqlite3") == set()


def test_uploads_on_object_storage_pass_the_storage_check(s3_storage):
    assert storage_check_ids() == set()


def test_check_deploy_reports_local_uploads_when_the_environment_does_not_say_they_are_shared():
    from tests.conftest import child_env

    env = child_env(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz",
                    DJANGO_ALLOWED_HOSTS="example.com", SITE_URL="https://example.com", DATABASE_URL=POSTGRES_URL)
    env.pop("STORAGE_LOCAL_DISK_SHARED", None)
    finished = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                              cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1
    assert "site_config.W030" in finished.stderr + finished.stdout
