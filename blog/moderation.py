"""Automatic comment moderation: plain scoring rules, no database and no Celery.

Each rule looks at the text (and a few facts about the author) and adds points with a reason a
moderator can read. `decide()` turns the total into a status with the thresholds from settings:
below MODERATION_HOLD_THRESHOLD -> approved, at or above MODERATION_SPAM_THRESHOLD -> spam,
anything in between -> held for staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings

LINK = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
REPEATED_CHARACTER = re.compile(r"(\S)\1{5,}")  # the same character six times or more
LETTERS = re.compile(r"[^\W\d_]")

POINTS_PER_LINK = 1.5
POINTS_PER_BLOCKED_TERM = 3.0
POINTS_SHOUTING = 2.0
POINTS_REPEATED_CHARACTERS = 1.0
POINTS_DUPLICATE = 2.5
POINTS_NEW_ACCOUNT = 0.5
NEW_ACCOUNT_AGE = timedelta(days=1)
SHOUTING_MIN_LETTERS = 12
SHOUTING_UPPER_SHARE = 0.7


@dataclass(frozen=True)
class Score:
    points: float = 0.0
    reasons: list[str] = field(default_factory=list)


def score_comment(
    body: str,
    *,
    blocklist: list[str] | None = None,
    account_age: timedelta | None = None,
    recent_duplicates: int = 0,
) -> Score:
    """Score `body`. `account_age` is how long the author has been a member; `recent_duplicates`
    how many comments with the same text were posted recently (the caller looks them up)."""
    points = 0.0
    reasons: list[str] = []

    links = len(LINK.findall(body))
    if links:
        points += links * POINTS_PER_LINK
        reasons.append(f"{links} link{'s' if links != 1 else ''}")

    lowered = body.casefold()
    blocked = [term for term in (settings.MODERATION_BLOCKLIST if blocklist is None else blocklist)
               if term and term.casefold() in lowered]
    if blocked:
        points += len(blocked) * POINTS_PER_BLOCKED_TERM
        reasons.append("blocked term: " + ", ".join(blocked))

    letters = LETTERS.findall(body)
    if len(letters) >= SHOUTING_MIN_LETTERS:
        upper = sum(1 for letter in letters if letter.isupper())
        if upper / len(letters) >= SHOUTING_UPPER_SHARE:
            points += POINTS_SHOUTING
            reasons.append("shouting (mostly capitals)")

    if REPEATED_CHARACTER.search(body):
        points += POINTS_REPEATED_CHARACTERS
        reasons.append("repeated characters")

    if recent_duplicates:
        points += POINTS_DUPLICATE
        reasons.append("same text posted recently")

    if account_age is not None and account_age < NEW_ACCOUNT_AGE:
        points += POINTS_NEW_ACCOUNT
        reasons.append("account less than a day old")

    return Score(points=points, reasons=reasons)


def decide(points: float, *, hold_threshold: float | None = None, spam_threshold: float | None = None) -> str:
    """The comment status for a score: "approved", "held" or "spam"."""
    hold = settings.MODERATION_HOLD_THRESHOLD if hold_threshold is None else hold_threshold
    spam = settings.MODERATION_SPAM_THRESHOLD if spam_threshold is None else spam_threshold
    if points >= spam:
        return "spam"
    if points >= hold:
        return "held"
    return "approved"
