"""Security headers and cookies every page carries: the Content-Security-Policy and an HttpOnly CSRF cookie."""

from __future__ import annotations

import re

import pytest
from csp.utils import build_policy

pytestmark = pytest.mark.django_db


def test_every_page_gets_the_site_policy_with_its_own_nonce(client):
    response = client.get("/accounts/login/")
    html = response.content.decode()
    nonces = set(re.findall(r'<script [^>]*nonce="([^"]+)"', html))
    assert len(nonces) == 1  # django-htmx's script tags carry the response's nonce
    nonce = nonces.pop()
    assert response["Content-Security-Policy"] == build_policy(nonce=nonce)
    policy = dict(part.split(" ", 1) for part in response["Content-Security-Policy"].split("; "))
    assert policy["script-src"] == f"'self' 'nonce-{nonce}'" and policy["style-src"] == f"'self' 'nonce-{nonce}'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert client.get("/accounts/login/")["Content-Security-Policy"] != response["Content-Security-Policy"]


def test_htmx_is_told_not_to_inject_styles_nor_run_scripts_or_eval(client):
    html = client.get("/").content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1)
    assert config == '{"includeIndicatorStyles": false, "allowScriptTags": false, "allowEval": false}'


def test_no_template_has_an_inline_style_attribute_or_event_handler():
    from pathlib import Path

    from tests.conftest import BASE_DIR

    offenders = []
    for folder in ("templates", "dashboard", "blog", "weather"):
        for source in (Path(BASE_DIR) / folder).rglob("*.html"):
            text = source.read_text(encoding="utf-8")
            for pattern in (r"\sstyle=", r"\son[a-z]+=", r"<script(?![^>]*\ssrc=)(?![^>]*nonce=)"):
                if re.search(pattern, text):
                    offenders.append(f"{source.relative_to(BASE_DIR)}: {pattern}")
    assert offenders == []


def test_the_csrf_cookie_is_http_only_and_htmx_reads_the_token_from_the_page(client):
    response = client.get("/accounts/login/")
    assert response.cookies["csrftoken"]["httponly"] is True
    html = response.content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html).group(1)
    assert token  # the same token the forms carry: htmx never needs the cookie
