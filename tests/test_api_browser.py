"""The tokens page and the API's browsable docs, in headless Chromium under the site's CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, browser_login, make_user
from tests.test_csp_browser import RECORD_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_create_use_and_revoke_a_token_then_read_the_docs(page, live_server_url):
    make_user("alice", staff=True)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.add_init_script(RECORD_VIOLATIONS)
    browser_login(page, live_server_url, "alice")

    page.goto(f"{live_server_url}/accounts/tokens/")
    page.get_by_label("Name").fill("deploy script")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token-value").inner_text().strip()
    assert token.startswith("ldt_")

    me = page.request.get(f"{live_server_url}/api/me/", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json()["token"] == "deploy script"

    page.goto(f"{live_server_url}/accounts/tokens/")  # shown once: not on the page any more
    expect(page.locator("#new-token-value")).to_have_count(0)
    expect(page.get_by_text(token)).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked: the token no longer works.")).to_be_visible()
    refused = page.request.get(f"{live_server_url}/api/me/", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401

    page.goto(f"{live_server_url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
    assert page.locator(".opblock").count() >= 10
    expect(page.get_by_text("/api/tasks/{task_id}/events/")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []
    assert [line for line in console if "Content Security Policy" in line] == []
