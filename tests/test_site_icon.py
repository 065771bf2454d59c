"""The site's own icon: named by every page of ours, and /favicon.ico (which browsers and tools ask for on
their own) leads to it instead of a 404."""

from __future__ import annotations


def test_favicon_ico_leads_to_the_sites_svg_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body.startswith(b"<svg") and b"<title>Live Django</title>" in body


def test_every_page_names_the_icon(client, db):
    home = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in home
