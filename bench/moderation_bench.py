"""Benchmark: the moderation queue with 100,000 comments, and a bulk approval of 100.

Creates COMMENTS comments (a third of them held) on 50 posts in a temporary database, then:
- requests the staff queue page (first page, a deep page, a post filter) REQUESTS times each
  through Django's test client (the whole view and template, no network) -> p50 / p95;
- counts the SQL queries per page at page sizes 10, 50 and 200 (must not grow with page size);
- bulk-approves 100 held comments ROUNDS times (conditional update, audit rows, notification
  emails: outbox rows and one batch task per EMAIL_BATCH_SIZE, queued on commit to a real private
  Redis) -> p50 / p95.

    .venv/bin/python bench/moderation_bench.py                  # 100,000 comments, SQLite
    COMMENTS=20000 .venv/bin/python bench/moderation_bench.py
    DATABASE_URL=postgres://... .venv/bin/python bench/moderation_bench.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402  (private Redis, temporary database)

os.environ["DJANGO_DEBUG"] = "1"  # test client host + unhashed static names; queries counted below
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"

COMMENTS = int(os.environ.get("COMMENTS", 100_000))
REQUESTS = int(os.environ.get("REQUESTS", 60))
ROUNDS = int(os.environ.get("ROUNDS", 10))


def main() -> None:
    import django

    django.setup()
    _setup.migrate()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from blog.models import Comment, Post
    from blog.services import comments

    User = get_user_model()
    staff = User.objects.create_user("alice", "alice@example.com", "x", is_staff=True)
    # Deciding needs its permission (dashboard.permissions); without it the bulk POST below is refused.
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="dashboard", codename="decide_comments"))
    members = [User(username=f"member{n}", email=f"m{n}@example.com") for n in range(200)]
    User.objects.bulk_create(members)
    members = list(User.objects.filter(username__startswith="member"))
    now = timezone.now()
    posts = Post.objects.bulk_create(
        Post(title=f"Post {n}", slug=f"post-{n}", body="b", author=staff, status="published", published_at=now)
        for n in range(50)
    )
    started = time.perf_counter()
    statuses = ["held", "approved", "spam"]
    batch = []
    for n in range(COMMENTS):
        batch.append(Comment(post=posts[n % 50], author=members[n % 200], body=f"comment {n} " + "words " * 20,
                             status=statuses[n % 3], score=2.5, reasons=["1 link", "account less than a day old"]))
        if len(batch) == 5000:
            Comment.objects.bulk_create(batch)
            batch = []
    Comment.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE") if connection.vendor == "sqlite" else cursor.execute("ANALYZE blog_comment")
    print(f"{COMMENTS:,} comments ({Comment.objects.filter(status='held').count():,} held) "
          f"created in {time.perf_counter() - started:.1f} s on {connection.vendor}")

    client = Client()
    client.force_login(staff)

    def timed(url: str) -> list[float]:
        client.get(url)  # warm up
        times = []
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.status_code
        return times

    print("\nqueue page (50 rows)                 p50 ms   p95 ms")
    for label, url in [
        ("first page, held", "/dashboard/moderation/"),
        ("page 300, held", "/dashboard/moderation/?page=300"),
        ("one post, held", f"/dashboard/moderation/?post={posts[7].pk}"),
        ("first page, spam", "/dashboard/moderation/?status=spam"),
    ]:
        times = timed(url)
        print(f"  {label:<34} {_setup.percentile(times, 50):7.1f}  {_setup.percentile(times, 95):7.1f}")

    print("\nSQL queries per queue page")
    for size in (10, 50, 200):
        with override_settings(MODERATION_QUEUE_PER_PAGE=size), CaptureQueriesContext(connection) as queries:
            client.get("/dashboard/moderation/")
        print(f"  page size {size:>3}: {len(queries)} queries")

    print(f"\nbulk approve of 100 held comments ({ROUNDS} rounds; audit rows + notification emails)")
    times = []
    for _ in range(ROUNDS):
        ids = list(Comment.objects.filter(status="held").order_by("created_at", "id").values_list("pk", flat=True)[:100])
        t0 = time.perf_counter()
        won = comments.comments_decide(comment_ids=ids, moderator=staff, new_status="approved", expected_status="held")
        times.append((time.perf_counter() - t0) * 1000)
        assert len(won) == 100
    print(f"  p50 {_setup.percentile(times, 50):.1f} ms   p95 {_setup.percentile(times, 95):.1f} ms")
    t0 = time.perf_counter()
    response = client.post("/dashboard/moderation/bulk/", {
        "action": "approve", "status": "held",
        "selected": list(Comment.objects.filter(status="held").values_list("pk", flat=True)[:100]),
    }, HTTP_HX_REQUEST="true")
    if response.status_code != 200:
        sys.exit(f"the bulk approval answered {response.status_code}; no figure")
    print(f"  through the HTMX view (decision + re-rendered queue): {(time.perf_counter() - t0) * 1000:.1f} ms "
          f"(status {response.status_code})")


if __name__ == "__main__":
    main()
