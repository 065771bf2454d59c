"""The site's language: chosen by the browser's Accept-Language, switched in the header, remembered
for a signed-in member on any browser; the zh-Hant catalogue complete and current; pages, refusals,
API errors and dates in the page's language; emails in the member's language."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from blog.models import OutboundEmail, Profile
from tests.conftest import PASSWORD, grant, make_user


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


# --- the catalogue -------------------------------------------------------------------------------

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"


def catalogue_entries(path: Path) -> dict[tuple[str, str], polib.POEntry]:
    return {(entry.msgctxt or "", entry.msgid): entry for entry in polib.pofile(str(path)) if not entry.obsolete}


def test_every_entry_of_the_catalogue_is_translated_and_none_is_fuzzy():
    entries = polib.pofile(str(CATALOGUE))
    assert len(entries) > 500
    assert [entry.msgid for entry in entries.untranslated_entries()] == []
    assert [entry.msgid for entry in entries.fuzzy_entries()] == []
    assert [entry.msgid for entry in entries if entry.obsolete] == []


def test_translations_keep_every_placeholder_of_their_source():
    """A translation that drops or renames %(name)s or {name} would fail (or say less) when shown."""
    placeholder = re.compile(r"%\(\w+\)[sdr]|\{\w+\}")
    wrong = []
    for entry in polib.pofile(str(CATALOGUE)):
        translated = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
        if sorted(set(placeholder.findall(entry.msgid_plural or entry.msgid))) != sorted(set(placeholder.findall(translated))):
            wrong.append(entry.msgid)
    assert wrong == []


def test_the_compiled_catalogue_is_the_current_one():
    """The committed .mo is what `make messages` makes from the committed .po: `make run` needs no gettext."""
    compiled = polib.mofile(str(CATALOGUE.with_suffix(".mo")))
    source = polib.pofile(str(CATALOGUE))
    assert {(e.msgctxt or "", e.msgid): e.msgstr or e.msgstr_plural.get(0) for e in compiled if e.msgid} == \
        {(e.msgctxt or "", e.msgid): e.msgstr or e.msgstr_plural.get(0) for e in source if not e.obsolete}


def test_the_catalogue_holds_every_string_the_source_marks(tmp_path):
    """`make messages-extract` on a copy of the source: the strings it finds are the catalogue's, no more, no less."""
    # `make test` installs gettext (`make system-deps`): a machine without it has not been set up.
    assert shutil.which("xgettext") and shutil.which("msgmerge"), \
        "gettext (xgettext, msgmerge) is missing: `make system-deps` installs it"
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "source"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "staticfiles", "test-artifacts", "node_modules", "__pycache__", "*.mo", "media"))
    env = {**os.environ, "DJANGO_DEBUG": "1"}
    result = subprocess.run(["make", "--no-print-directory", "-s", "messages-extract", f"PY={sys.executable}"],
                            cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    found = catalogue_entries(copy / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po")
    committed = catalogue_entries(CATALOGUE)
    assert sorted(set(found) - set(committed)) == [], "marked in the source but not in the catalogue: run `make messages`"
    assert sorted(set(committed) - set(found)) == [], "in the catalogue but no longer in the source: run `make messages`"


# --- pages in Chinese ----------------------------------------------------------------------------

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-TW"}


def nav_headings_buttons(html: str) -> tuple[str, str, str]:
    """The text of the page's navigation, its headings and its buttons (tags stripped)."""
    def text(pattern: str) -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", part) for part in re.findall(pattern, html, re.S))
    return (text(r'<nav aria-label="[^"]*">(.*?)</nav>'), text(r"<h[12][^>]*>(.*?)</h[12]>"),
            text(r"<button[^>]*>(.*?)</button>"))


@pytest.mark.parametrize(("path", "staff", "nav", "heading", "button"), [
    ("/", False, "部落格", "看得見的背景工作", "English"),
    ("/blog/", False, "天氣", "部落格", "English"),
    ("/weather/", False, "部落格", "天氣，隨到隨顯示", "顯示天氣"),
    ("/dashboard/", True, "儀表板", "啟動示範工作", "啟動示範工作"),
    ("/dashboard/tasks/", True, "排程", "任務", "篩選"),
    ("/dashboard/moderation/", True, "審核", "審核", "篩選"),
    ("/dashboard/my-tasks/", True, "我的任務", "我的任務", "登出"),
])
def test_a_traditional_chinese_browser_reads_navigation_headings_and_buttons_in_chinese(
        client, db, path, staff, nav, heading, button):
    user = make_user("alice", staff=True) if staff else None
    if user:
        user = grant(user, "dashboard.start_demo_job", "dashboard.decide_comments")
        client.force_login(user)
    response = client.get(path, **ZH)
    assert response.status_code == 200
    html = response.content.decode()
    navigation, headings, buttons = nav_headings_buttons(html)
    assert nav in navigation and heading in headings and button in buttons, (navigation, headings, buttons)
    # Whatever the page, the header's words are Chinese, and no English word of it is left.
    assert ("登出" if user else "登入") in navigation
    for english in ("Blog", "Weather", "Log in", "Log out", "Dashboard", "Skip to content"):
        assert f">{english}<" not in html


def test_the_same_page_in_english_stays_english(client, db):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    navigation, headings, buttons = nav_headings_buttons(html)
    assert "Blog" in navigation and "Background work you can watch" in headings and "繁體中文" in buttons


def test_dates_follow_the_page_language(client, alice):
    from tests.blog_helpers import make_post

    post = make_post(alice, title="Dated")
    when = post.published_at
    assert f"{when.year}年{when.month}月{when.day}日" in client.get(post.get_absolute_url(), **ZH).content.decode()
    english = client.get(post.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"{when.day} {when.strftime('%B')} {when.year}" in english


def test_a_refusal_says_why_in_the_page_language_and_names_the_permission_as_the_admin_does(client, alice):
    client.force_login(alice)
    response = client.post("/dashboard/tasks/demo/", {"steps": 3, "delay_ms": 0}, **ZH)
    assert response.status_code == 403
    html = response.content.decode()
    assert "啟動示範工作需要「Can start the demo job」權限。" in html


def test_the_api_answers_its_errors_in_the_asked_language(client, bob):
    client.force_login(bob)
    body = client.get("/api/tasks/no-such-task/", **ZH).json()
    assert body["error"]["code"] == "not_found" and body["error"]["message"] == "沒有這個任務。"


@pytest.mark.parametrize("language", ["en", "zh-hant"])
def test_every_page_renders_in_both_languages(client, db, language):
    from tests.page_samples import seed_every_kind_of_row
    from tests.test_pages_browser import real_kwargs
    from tests.test_structure import SITE_URLS

    samples = seed_every_kind_of_row()
    client.force_login(samples.superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    html_lang = {"en": '<html lang="en">', "zh-hant": '<html lang="zh-Hant">'}[language]
    rendered, broken = [], []
    for name, example, _ in SITE_URLS:
        if name == "logout":
            continue
        path = reverse(name, kwargs=real_kwargs(name, example, samples))
        response = client.get(path)
        if response.status_code in (204, 302, 405) or "text/html" not in response.get("Content-Type", ""):
            continue  # POST-only, a redirect, or not a page
        if response.status_code not in (200, 400):  # 400: a link's page saying the link is not valid
            broken.append(f"{name} {path}: {response.status_code}")
            continue
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if b"site-header" in content:
            rendered.append(name)
            assert html_lang in content.decode(), name
    assert broken == []
    assert {"home", "blog:post_detail", "dashboard:task_list", "dashboard:task_detail", "dashboard:schedule_detail",
            "dashboard:workers", "dashboard:report_detail", "dashboard:announcement_detail"} <= set(rendered)


# --- emails in the member's language -------------------------------------------------------------

def choose_language(user, language: str) -> None:
    Profile.objects.update_or_create(user=user, defaults={"language": language})


def test_an_email_to_a_member_who_chose_chinese_is_in_chinese(bob, django_capture_on_commit_callbacks):
    from blog.services import members

    choose_language(bob, "zh-hant")
    email = members.verification_email_queue(user=bob)
    assert email.subject == "請確認你的電子郵件地址"
    assert "請確認你的電子郵件地址，就可以開始留言" in email.body and "小時後失效" in email.body
    choose_language(bob, "en")
    assert members.verification_email_queue(user=bob).subject == "Confirm your email address"


def test_a_comment_notice_is_written_in_the_post_authors_language(alice, bob):
    from blog.services import comments
    from tests.blog_helpers import make_comment, make_post

    choose_language(alice, "zh-hant")
    post = make_post(alice, title="Hello")
    comment = make_comment(post, bob, status="held")
    comments.comments_decide(comment_ids=[comment.pk], moderator=alice, new_status="approved", expected_status="held")
    email = OutboundEmail.objects.get(kind="comment_approved")
    assert email.subject == "「Hello」有新留言" and "在你的文章「Hello」留言" in email.body


def test_an_announcement_keeps_the_staffs_words_and_footers_each_member_in_their_language(alice, bob, charlie):
    from blog.models import Announcement
    from blog.services import announcements

    for member in (bob, charlie):
        Profile.objects.update_or_create(user=member, defaults={"email_verified_at": timezone.now()})
    choose_language(bob, "zh-hant")
    announcement = Announcement.objects.create(subject="News", body="Same words for all.", created_by=alice,
                                               recipients_total=2)
    announcements.announcement_batch_send(announcement_id=announcement.pk, batch_number=1)
    bodies = {email.to: email.body for email in OutboundEmail.objects.filter(kind="announcement")}
    assert bodies[bob.email].startswith("Same words for all.") and "不想再收到公告" in bodies[bob.email]
    assert "Stop receiving announcements" in bodies[charlie.email]


def test_a_password_reset_is_written_in_the_account_owners_language(client, bob):
    choose_language(bob, "zh-hant")
    client.post("/accounts/password_reset/", {"email": bob.email}, HTTP_ACCEPT_LANGUAGE="en")
    email = OutboundEmail.objects.get(kind="password_reset")
    assert "密碼" in email.subject + email.body


def test_signing_up_in_chinese_writes_the_confirmation_in_chinese_and_remembers_the_language(client, db):
    response = client.post("/accounts/signup/", {"username": "dora", "email": "dora@example.com",
                                                 "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
                           **ZH)
    assert response.status_code == 200 and "請查看你的電子郵件" in response.content.decode()
    email = OutboundEmail.objects.get(to="dora@example.com")
    assert email.subject == "請確認你的電子郵件地址"
    assert Profile.objects.get(user__username="dora").language == "zh-hant"


def test_schedules_and_their_audit_notes_read_whole_in_either_language(client, db):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from dashboard.schedules.services import schedule_update

    staff = make_user("sally", staff=True)
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.MINUTES)
    pt = PeriodicTask.objects.create(name="weekly", task="dashboard.tasks.demo_job_task", interval=every, kwargs="{}")
    # The note is written once (here while English is active) and read later in each reader's language.
    schedule_update(periodic_task_id=pt.pk, user=staff, kind="crontab", fields={
        "minute": "5", "hour": "0", "day_of_week": "1", "day_of_month": "*", "month_of_year": "*", "timezone": "UTC"})
    client.force_login(staff)
    chinese = client.get(f"/dashboard/schedules/{pt.pk}/", **ZH).content.decode()
    assert "每星期一 00:05（UTC）" in chinese and "每 10 分鐘 → 每星期一 00:05（UTC）" in chinese
    english = client.get(f"/dashboard/schedules/{pt.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "every 10 minutes → every Monday at 00:05 UTC" in english
    assert "every Monday at 00:05 UTC" in client.get("/dashboard/schedules/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "每星期一 00:05（UTC）" in client.get("/dashboard/schedules/", **ZH).content.decode()


def test_the_run_form_says_what_is_wrong_with_an_argument_in_chinese(client, db):
    client.force_login(grant(make_user("rita", staff=True), "dashboard.run_task"))
    response = client.post("/dashboard/workers/run/", {"task": "dashboard.tasks.demo_job_task", "args": "[0, 0]",
                                                       "kwargs": "{}", "queue": "", "eta": "", "countdown": ""}, **ZH)
    html = response.content.decode()
    assert "steps 必須至少為 1" in html and "之間的整數" in html, re.findall(r'<ul class="errorlist".*?</ul>', html, re.S)
