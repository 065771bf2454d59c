"""The site's language: chosen by the browser's Accept-Language, switched in the header, remembered
for a signed-in member on any browser."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from blog.models import Profile
from tests.conftest import PASSWORD


@pytest.mark.parametrize("header", ["zh-TW", "zh-HK", "zh-Hant", "zh-Hant-TW,zh;q=0.9,en;q=0.5"])
def test_traditional_chinese_browsers_get_the_zh_hant_pages(client, db, header):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=header)
    assert response["Content-Language"] == "zh-hant"
    assert '<html lang="zh-Hant">' in response.content.decode()


def test_other_browsers_get_english(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.8")
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in response.content.decode()


def test_switching_language_sets_the_cookie_and_returns_to_the_page(client, db):
    response = client.post("/language/", {"language": "zh-hant", "next": "/blog/"})
    assert response.status_code == 302 and response["Location"] == "/blog/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "zh-hant"


def test_a_members_choice_follows_them_to_another_browser(client, bob):
    client.force_login(bob)
    client.post("/language/", {"language": "zh-hant", "next": "/"})
    assert Profile.objects.get(user=bob).language == "zh-hant"

    elsewhere = Client()
    response = elsewhere.post("/accounts/login/", {"username": "bob", "password": PASSWORD},
                              HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert elsewhere.get("/")["Content-Language"] == "zh-hant"


def test_an_unknown_language_is_ignored(client, bob):
    client.force_login(bob)
    response = client.post("/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert not Profile.objects.filter(user=bob).exclude(language="").exists()


def test_the_switch_is_a_post_with_csrf(db):
    csrf_client = Client(enforce_csrf_checks=True)
    assert csrf_client.post("/language/", {"language": "zh-hant"}).status_code == 403
    assert csrf_client.get("/language/").status_code == 405
