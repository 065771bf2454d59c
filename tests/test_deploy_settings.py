"""Start-up refuses settings that would put tokens or sockets at risk: production needs an https
SITE_URL (every link in an email is built from it), and no configuration accepts "*" as a host."""

from __future__ import annotations

import os
import runpy
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import BASE_DIR, child_env

PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "test-secret-key-" + "x" * 40,
              "DJANGO_ALLOWED_HOSTS": "example.com"}


def _start(**env: str | None) -> dict:
    """Run the settings module as a process started with `env` (None: unset) runs it, here in this
    process (a new interpreter per case costs seconds of imports): its names, or the
    ImproperlyConfigured that stops start-up."""
    environment = child_env(**env)
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
    with mock.patch.dict(os.environ, environment, clear=True):
        return runpy.run_path(str(BASE_DIR / "site_config" / "settings.py"))


@pytest.mark.parametrize(("site_url", "message"), [
    ("http://example.com", "must be an https:// address"),
    ("example.com", "must be an https:// address"),
])
def test_production_refuses_to_start_without_an_https_site_url(site_url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        _start(**PRODUCTION, SITE_URL=site_url)


@pytest.mark.parametrize("site_url", [None, ""])
def test_production_without_site_url_links_to_its_first_host_over_https(site_url):
    started = _start(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": ".example.com,www.example.com"}, SITE_URL=site_url)
    assert started["SITE_URL"] == "https://example.com"


def test_production_without_site_url_or_a_host_name_refuses_to_start():
    with pytest.raises(ImproperlyConfigured) as refused:
        _start(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "."}, SITE_URL=None)
    assert "SITE_URL must be set when DJANGO_DEBUG is off and DJANGO_ALLOWED_HOSTS names no host" in str(refused.value)


def test_production_starts_with_an_https_site_url():
    assert _start(**PRODUCTION, SITE_URL="https://example.com/")["SITE_URL"] == "https://example.com"


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_wildcard_allowed_host_is_refused_at_start_up(debug):
    with pytest.raises(ImproperlyConfigured) as refused:
        _start(**{**PRODUCTION, "DJANGO_DEBUG": debug, "DJANGO_ALLOWED_HOSTS": "example.com,*"},
               SITE_URL="https://example.com")
    assert "DJANGO_ALLOWED_HOSTS must not contain '*'" in str(refused.value)


@pytest.mark.parametrize("key", ["short-key", "a" * 60, "django-insecure-" + "abcdefghij" * 5,
                                 "django-insecure-local-development-key-do-not-use-in-production"])
def test_production_refuses_a_short_or_default_secret_key(key):
    with pytest.raises(ImproperlyConfigured) as refused:
        _start(**{**PRODUCTION, "DJANGO_SECRET_KEY": key}, SITE_URL="https://example.com")
    assert "DJANGO_SECRET_KEY is too weak for production" in str(refused.value)


def test_a_key_made_as_make_check_deploy_makes_it_is_accepted():
    import secrets

    started = _start(**{**PRODUCTION, "DJANGO_SECRET_KEY": secrets.token_hex(32)}, SITE_URL="https://example.com")
    assert started["SECRET_KEY"]
