"""Automatic moderation scoring: plain functions, no database, no Celery."""

from __future__ import annotations

from datetime import timedelta

from blog.moderation import decide, score_comment

OLD = timedelta(days=30)


def test_plain_comment_from_an_established_member_scores_zero_and_is_approved():
    score = score_comment("Thanks, this helped me understand retries.", blocklist=[], account_age=OLD)
    assert score.points == 0 and score.reasons == []
    assert decide(score.points, hold_threshold=2, spam_threshold=5) == "approved"


def test_links_are_counted_and_explained():
    score = score_comment("see https://a.example and www.b.example", blocklist=[], account_age=OLD)
    assert score.points == 3.0
    assert score.reasons == ["2 links"]


def test_blocklisted_terms_are_case_insensitive():
    score = score_comment("Best CASINO bonus", blocklist=["casino", "viagra"], account_age=OLD)
    assert score.reasons == ["blocked term: casino"]
    assert score.points == 3.0


def test_shouting_needs_enough_letters():
    assert "shouting (mostly capitals)" in score_comment("THIS IS TOTALLY AMAZING", blocklist=[]).reasons
    assert score_comment("OK THX", blocklist=[]).reasons == []


def test_repeated_characters_and_recent_duplicates_and_new_accounts():
    score = score_comment("sooooooo good", blocklist=[], account_age=timedelta(hours=2), recent_duplicates=1)
    assert score.reasons == ["repeated characters", "same text posted recently", "account less than a day old"]
    assert score.points == 1.0 + 2.5 + 0.5


def test_thresholds_split_approved_held_and_spam():
    assert decide(1.99, hold_threshold=2, spam_threshold=5) == "approved"
    assert decide(2, hold_threshold=2, spam_threshold=5) == "held"
    assert decide(4.9, hold_threshold=2, spam_threshold=5) == "held"
    assert decide(5, hold_threshold=2, spam_threshold=5) == "spam"


def test_thresholds_and_blocklist_come_from_settings(settings):
    settings.MODERATION_BLOCKLIST = ["spamword"]
    settings.MODERATION_HOLD_THRESHOLD = 1
    settings.MODERATION_SPAM_THRESHOLD = 3
    score = score_comment("a spamword here")
    assert score.reasons == ["blocked term: spamword"]
    assert decide(score.points) == "spam"
    assert decide(1.5) == "held"
