"""The texts of the demo content: who the members are, what the posts say, what the comments say.

Times are offsets before the moment the command first runs, so the content spans the last week
(members join, posts come out, comments arrive) and the daily reports of those days have figures.
Each comment names the moderation state it is shown in; `services` explains how it gets there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class DemoMember:
    username: str
    email: str
    joined_ago: timedelta


@dataclass(frozen=True)
class DemoPost:
    slug: str
    title: str
    author: str  # a DemoMember's username
    published_ago: timedelta
    #: Paragraphs separated by a blank line, wrapped here for reading; stored one line per paragraph,
    #: since the post page renders |linebreaks (a single newline would become a <br>).
    wrapped_body: str

    @property
    def body(self) -> str:
        return "\n\n".join(" ".join(paragraph.split()) for paragraph in self.wrapped_body.split("\n\n"))


@dataclass(frozen=True)
class DemoComment:
    post: str  # a DemoPost's slug
    author: str
    body: str
    #: The state the comment is left in: pending, approved, held, spam or rejected.
    status: str
    written_ago: timedelta


MEMBERS = [
    DemoMember("ada", "ada@example.com", timedelta(days=7)),
    DemoMember("grace", "grace@example.com", timedelta(days=6, hours=20)),
    DemoMember("alan", "alan@example.com", timedelta(days=6, hours=2)),
]

POSTS = [
    DemoPost(
        slug="why-every-background-job-deserves-a-progress-bar",
        title="Why every background job deserves a progress bar",
        author="ada",
        published_ago=timedelta(days=6, hours=1),
        wrapped_body="""\
When a web page hands work to a background worker, the person who clicked the button is left with a
question: is anything happening? A spinner says "wait", but not for how long, and not whether the
work died ten minutes ago.

This site answers that question for every job it runs. A task reports progress with one call,
report_progress(current, total, message). The worker stores the new state in the database and
publishes it to a channel group; the browser, subscribed over a websocket, swaps in the new bar.

Two rules keep it honest. The database row is the truth: a page that reconnects starts from a
snapshot read from the database, so a lost message can never leave a bar stuck. And progress is
throttled: a task may report a million times, but only the first, the last and at most one report
every few hundred milliseconds leave the worker.

Open the dashboard and start the demo job to watch a bar move. The task list shows one job that
finished and one that failed on purpose: its page shows the error and the traceback, and staff
with the right permission can send it again.""",
    ),
    DemoPost(
        slug="moderating-comments-with-plain-rules",
        title="Moderating comments with plain rules",
        author="ada",
        published_ago=timedelta(days=4, hours=3),
        wrapped_body="""\
Every comment on this blog is saved as pending and checked by a background task a moment later.
The check is not clever, and that is the point: it adds points for links, for words on a
blocklist, for shouting in capitals, for repeated characters, for the same text posted twice and
for accounts younger than a day. Each rule writes down its reason.

Few points and the comment is approved. Many points and it is marked as spam. In between, it is
held for a person to decide, with the reasons shown next to it.

The moderation queue in the dashboard updates live. When two moderators decide the same comment
at the same moment, exactly one of them wins: the decision is a conditional update from the state
the moderator saw, and the other one is told who was faster. Every decision is kept in an audit
trail, automatic or not.""",
    ),
    DemoPost(
        slug="what-happens-when-redis-restarts",
        title="What happens when Redis restarts",
        author="ada",
        published_ago=timedelta(days=2, hours=5),
        wrapped_body="""\
Redis carries three things here: the task queue, the cache and the messages that make pages live.
Any of them can vanish for a while, and the site is built so that nothing breaks for good when
they do.

Pages keep answering, with a notice that Redis cannot be reached. Open live pages say they are
paused and reconnect by themselves. The worker reconnects too, and a job that was running finishes
and reports its final state once the connection is back.

A private Redis without persistence forgets the queue when it restarts. Tasks that were waiting in
it are found by a sweep a minute later: those that are safe to repeat are sent again, the others
are marked failed with the reason, so nothing stays "queued" for ever without anyone knowing.""",
    ),
]

COMMENTS = [
    DemoComment(
        post="why-every-background-job-deserves-a-progress-bar", author="grace", status="approved",
        written_ago=timedelta(days=5, hours=6),
        body="The snapshot on reconnect is the part I always forget. "
             "Thanks for spelling out why the database has to be the truth.",
    ),
    DemoComment(
        post="why-every-background-job-deserves-a-progress-bar", author="ada", status="approved",
        written_ago=timedelta(days=5, hours=4),
        body="Glad it helped. The throttle matters just as much: without it a tight loop "
             "would flood every open page.",
    ),
    DemoComment(
        post="why-every-background-job-deserves-a-progress-bar", author="alan", status="rejected",
        written_ago=timedelta(days=4, hours=20),
        body="Best progress bars here: www.example.org/deals and www.example.org/more-deals",
    ),
    DemoComment(
        post="moderating-comments-with-plain-rules", author="alan", status="approved",
        written_ago=timedelta(days=3, hours=10),
        body="Plain rules you can read beat a model nobody can explain. Does the blocklist come from settings?",
    ),
    DemoComment(
        post="moderating-comments-with-plain-rules", author="grace", status="held",
        written_ago=timedelta(days=3, hours=2),
        body="We wrote about our own queue here: https://example.com/moderation and the follow-up "
             "https://example.com/moderation-part-2. Curious what you think.",
    ),
    DemoComment(
        post="what-happens-when-redis-restarts", author="alan", status="spam",
        written_ago=timedelta(days=1, hours=3),
        body="FREE MONEY for every reader!!! Join the crypto giveaway at www.example.net now",
    ),
    DemoComment(
        post="what-happens-when-redis-restarts", author="grace", status="pending",
        written_ago=timedelta(minutes=1),
        body="Does the sweep also cover comments whose moderation message was lost?",
    ),
]
