"""Post images: upload checks, the renditions task on a real worker, failure reasons, the media view,
and the post pages' <picture>. Every image is made with Pillow here."""

from __future__ import annotations

import functools
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django_celery_results.models import TaskResult

from blog.models import Post, PostImageRendition
from blog.services import images
from dashboard.jobs.services import task_cancel
from dashboard.live.base_task import TaskCancelled
from dashboard.live.cancel import cancel_request
from dashboard.live.store import load_view
from site_config.machinery.stored_texts import shown
from tests.blog_helpers import make_post
from tests.conftest import grant
from tests.image_helpers import BLUE, RED, jpeg_bytes, open_image, png_bytes, post_with_image
from tests.livetools import wait_for

WORKER = 60.0  # seconds: room for a busy machine; nothing is timed against it


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def form_data(**overrides) -> dict:
    return {"title": "Sunny day", "slug": "", "body": "We went out.", "status": "published",
            "image_alt": "Red and blue halves", **overrides}


@pytest.fixture
def writer(alice):
    return grant(alice, "blog.add_post", "blog.change_post")


def stored_originals() -> set[str]:
    return set(default_storage.listdir("posts/originals")[1]) if default_storage.exists("posts/originals") else set()


def made_renditions(post: Post) -> None:
    """Make the renditions in this process, as the task would (its service, called directly)."""
    images.post_image_renditions_make(post_id=post.pk)
    post.refresh_from_db()


# --- checking an upload ---


def test_upload_check_knows_the_format_from_the_content_not_the_name():
    info = images.image_inspect(file=upload(png_bytes(), name="holiday.jpg"))
    assert (info.format, info.extension, info.width, info.height) == ("PNG", "png", 64, 48)


@pytest.mark.parametrize("data", [b"GIF89a" + bytes(100), b"<?php echo 'hi'; ?>", b"\xff\xd8\xff" + bytes(64)],
                         ids=["gif", "script-named-jpg", "jpeg-magic-then-garbage"])
def test_upload_check_refuses_what_is_not_a_jpeg_png_or_webp(data):
    with pytest.raises(images.ImageRejected, match="not an image Pillow can read"):
        images.image_inspect(file=upload(data))


def test_upload_check_refuses_a_file_over_the_byte_limit():
    with pytest.raises(images.ImageRejected, match=r"file is 0\.\d MB, over the 0\.1 MB limit"):
        images.image_inspect(file=upload(jpeg_bytes(1200, 900) + bytes(200_000)), max_bytes=100_000)


def test_upload_check_refuses_an_image_over_the_pixel_limit_from_its_header():
    data = png_bytes(8000, 6000, mode="1")  # 48 MP, a few kilobytes
    with pytest.raises(images.ImageRejected, match=r"image is 48 MP \(8000x6000\), over the 40 MP limit"):
        images.image_inspect(file=upload(data, "big.png", "image/png"), max_pixels=40_000_000)


def test_dashboard_upload_is_stored_under_a_name_the_site_chose_and_opens_the_task_page(client, writer):
    client.force_login(writer)
    response = client.post("/dashboard/posts/new/", {**form_data(), "image": upload(png_bytes(), "x.php.jpg")})
    post = Post.objects.get(slug="sunny-day")
    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/tasks/{post.image_task_id}/"
    assert re.fullmatch(r"posts/originals/[0-9a-f]{32}\.png", post.image.name)
    assert default_storage.exists(post.image.name)
    with default_storage.open(post.image.name, "rb") as stored:
        assert stored.read() == png_bytes()  # the original, kept as uploaded
    assert (post.image_status, post.author, post.published_at is not None) == ("pending", writer, True)


@pytest.mark.parametrize(("data", "reason"), [
    (b"not an image at all", "not an image Pillow can read"),
    (png_bytes(8000, 6000, mode="1"), "over the 40 MP limit"),
])
def test_dashboard_upload_refused_says_why_and_stores_nothing(client, writer, data, reason):
    client.force_login(writer)
    before = stored_originals()
    response = client.post("/dashboard/posts/new/", {**form_data(), "image": upload(data)})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Post.objects.exists()
    assert stored_originals() == before


@override_settings(POST_IMAGE_MAX_BYTES=50_000)
def test_dashboard_upload_over_the_byte_limit_is_refused(client, writer):
    client.force_login(writer)
    response = client.post("/dashboard/posts/new/", {**form_data(), "image": upload(jpeg_bytes(2000, 1500))})
    assert response.status_code == 400
    assert "over the 0" in response.content.decode() and "MB limit" in response.content.decode()


def test_admin_upload_opens_the_renditions_task_page(client, writer):
    client.force_login(writer)
    response = client.post("/admin/blog/post/add/", {
        **form_data(slug="from-admin"), "author": writer.pk, "image": upload(jpeg_bytes()),
    })
    post = Post.objects.get(slug="from-admin")
    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/tasks/{post.image_task_id}/"


def test_admin_upload_of_a_non_image_is_refused(client, writer):
    client.force_login(writer)
    response = client.post("/admin/blog/post/add/", {
        **form_data(slug="from-admin"), "author": writer.pk, "image": upload(b"%PDF-1.7 not a picture"),
    })
    assert response.status_code == 200  # the admin shows its form again with the error
    assert "not an image Pillow can read" in response.content.decode()
    assert not Post.objects.exists()


def test_staff_without_the_add_post_permission_cannot_write_a_post(client, alice):
    client.force_login(alice)
    assert client.get("/dashboard/posts/new/").status_code == 403
    assert client.post("/dashboard/posts/new/", {**form_data(), "image": upload(jpeg_bytes())}).status_code == 403
    assert not Post.objects.exists()
    assert "Writing a post needs the permission" in client.get("/dashboard/posts/").content.decode()


def test_members_never_reach_the_post_pages(client, bob):
    client.force_login(grant(bob, "blog.add_post"))
    assert client.get("/dashboard/posts/new/").status_code == 302  # to the staff log-in
    assert client.get("/dashboard/posts/").status_code == 302


# --- the service on its own: sizes, orientation, metadata, clean-up ---


def test_renditions_are_upright_stripped_and_never_wider_than_the_original(alice):
    # Stored 2000x1000 with EXIF orientation 6: shown turned a quarter clockwise, 1000x2000.
    post, _ = post_with_image(alice, jpeg_bytes(2000, 1000, orientation=6, comment=b"secret note"))
    made_renditions(post)
    rows = list(post.image_renditions.order_by("format", "width"))
    assert [(row.format, row.width, row.height) for row in rows] == [
        ("jpeg", 480, 960), ("jpeg", 960, 1920), ("jpeg", 1000, 2000),
        ("webp", 480, 960), ("webp", 960, 1920), ("webp", 1000, 2000),
    ]
    for row in rows:
        with default_storage.open(row.name, "rb") as stored:
            image = open_image(stored.read())
        assert (image.format, image.size) == ({"jpeg": "JPEG", "webp": "WEBP"}[row.format], (row.width, row.height))
        assert dict(image.getexif()) == {}
        assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & set(image.info)
        rgb = image.convert("RGB")
        top, bottom = rgb.getpixel((row.width // 2, 5)), rgb.getpixel((row.width // 2, row.height - 5))
        assert _near(top, RED) and _near(bottom, BLUE), (row.name, top, bottom)


def _near(colour, expected, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def test_a_small_image_gets_one_size_its_own(alice):
    post, _ = post_with_image(alice, jpeg_bytes(300, 200))
    made_renditions(post)
    assert sorted(post.image_renditions.values_list("format", "width", "height")) == [
        ("jpeg", 300, 200), ("webp", 300, 200)]


def test_a_transparent_png_keeps_alpha_in_webp_and_is_flattened_for_jpeg(alice):
    post, _ = post_with_image(alice, png_bytes(600, 400), name="logo.png")
    made_renditions(post)
    modes = {}
    for row in post.image_renditions.filter(width=480):
        with default_storage.open(row.name, "rb") as stored:
            modes[row.format] = open_image(stored.read()).mode
    assert modes == {"webp": "RGBA", "jpeg": "RGB"}


def test_progress_names_each_output_and_a_cancel_removes_what_was_written(alice):
    post, _ = post_with_image(alice, jpeg_bytes(2000, 1500))
    folder = f"posts/renditions/{post.pk}"
    before = set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()
    reports = []

    def progress(done, total, message):
        reports.append((done, total, shown(message)))
        if done == 3:
            raise TaskCancelled("alice")

    with pytest.raises(TaskCancelled):
        images.post_image_renditions_make(post_id=post.pk, task_id="t-1", progress=progress)
    assert reports == [(0, 6, "image decoded"), (1, 6, "1600w webp made"), (2, 6, "1600w jpeg made"),
                       (3, 6, "960w webp made")]
    assert set(default_storage.listdir(folder)[1]) == before
    assert not PostImageRendition.objects.exists()
    images.post_image_cancelled(post_id=post.pk, task_id="t-1", by="alice")
    post.refresh_from_db()
    assert (post.image_status, post.image_error) == ("failed", "cancelled by alice before the web sizes were made")
    assert default_storage.exists(post.image.name)  # the original stays


# --- the task on a real worker ---


def test_task_makes_the_renditions_on_a_worker_and_reports_each_one(live_worker, alice):
    post, task_id = post_with_image(alice, jpeg_bytes(2000, 1000, orientation=6))
    post = wait_for(lambda: Post.objects.filter(pk=post.pk, image_status__in=["ready", "failed"]).first(),
                    timeout=WORKER)
    assert (post.image_status, post.image_error, post.image_task_id) == ("ready", "", task_id)
    # The task marks the post ready, then returns; the worker stores SUCCESS a moment after.
    result = wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status__in=["SUCCESS", "FAILURE"]).first(),
                      timeout=WORKER)
    assert result.status == "SUCCESS"
    assert '"1000w webp"' in result.result and '"480w jpeg"' in result.result
    assert sorted(post.image_renditions.values_list("format", "width", "height")) == [
        ("jpeg", 480, 960), ("jpeg", 960, 1920), ("jpeg", 1000, 2000),
        ("webp", 480, 960), ("webp", 960, 1920), ("webp", 1000, 2000),
    ]
    for name in post.image_renditions.values_list("name", flat=True):
        with default_storage.open(name, "rb") as stored:
            image = open_image(stored.read())
        assert dict(image.getexif()) == {}
        assert image.height > image.width  # turned upright


@pytest.mark.parametrize(("data", "reason"), [
    (jpeg_bytes(1600, 1200)[:3000], "not an image Pillow can read"),  # a truncated upload
    (png_bytes(8000, 6000, mode="1"), "image is 48 MP (8000x6000), over the 40 MP limit"),
], ids=["truncated", "too-many-pixels"])
def test_task_fails_with_the_reason_and_the_post_shows_it_to_staff_only(live_worker, client, alice, bob, data, reason):
    post, task_id = post_with_image(alice, data, name="upload.png" if data.startswith(b"\x89PNG") else "upload.jpg")
    post = wait_for(lambda: Post.objects.filter(pk=post.pk, image_status__in=["ready", "failed"]).first(),
                    timeout=WORKER)
    assert post.image_status == "failed"
    assert reason in post.image_error
    result = wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="FAILURE").first(), timeout=WORKER)
    assert reason in result.result
    assert not PostImageRendition.objects.filter(post=post).exists()

    client.force_login(alice)
    page = client.get(post.get_absolute_url()).content.decode()
    assert "The image could not be used" in page and reason in page
    client.force_login(bob)
    page = client.get(post.get_absolute_url()).content.decode()
    assert "could not be used" not in page and "<picture>" not in page


def test_cancelled_while_running_the_task_ends_revoked_and_leaves_no_renditions(live_worker, client, alice):
    # The cancel request is made before the worker takes the task (in the transaction that queues it),
    # so the task stops at its first progress report, whatever the machine's speed.
    with transaction.atomic():
        post, task_id = post_with_image(alice, jpeg_bytes(2000, 1500))
        cancel_request(task_id, who="alice")
    wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="REVOKED").exists(), timeout=WORKER)
    assert load_view(task_id).error == "Revoked: cancelled by alice."
    post.refresh_from_db()
    assert (post.image_status, post.image_error) == ("failed", "cancelled by alice before the web sizes were made")
    assert not post.image_renditions.exists()
    assert default_storage.exists(post.image.name)  # the original stays, to try again
    client.force_login(alice)
    assert "cancelled by alice" in client.get(post.get_absolute_url()).content.decode()


def test_cancelled_while_queued_the_post_stops_showing_a_placeholder(client, alice, bob):
    post, task_id = post_with_image(alice, jpeg_bytes())  # queued on commit, which this test never reaches
    TaskResult.objects.create(task_id=task_id, task_name="blog.tasks.post_image_renditions_task", status="PENDING")
    assert task_cancel(user=alice, task_id=task_id) == "revoked"
    client.force_login(bob)
    page = client.get(post.get_absolute_url()).content.decode()
    assert "being prepared" not in page and "<picture>" not in page
    client.force_login(alice)
    assert "cancelled before the web sizes were made" in client.get(post.get_absolute_url()).content.decode()
    assert "cancelled before the web sizes were made" in client.get("/dashboard/posts/").content.decode()


# --- the media view ---


@pytest.fixture
def ready_post(alice):
    post, _ = post_with_image(alice, jpeg_bytes(1200, 800))
    made_renditions(post)
    return post


def test_a_published_posts_rendition_is_served_to_anyone_with_long_caching(client, ready_post):
    rendition = ready_post.image_renditions.get(format="webp", width=480)
    response = client.get(f"/media/{rendition.name}")
    body = b"".join(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "public" in response["Cache-Control"] and "immutable" in response["Cache-Control"]
    assert open_image(body).size == (480, 320)
    assert client.get(f"/media/{ready_post.image_renditions.get(format='jpeg', width=960).name}")[
        "Content-Type"] == "image/jpeg"


def test_a_draft_posts_renditions_are_for_staff_only(client, ready_post, alice, bob):
    Post.objects.filter(pk=ready_post.pk).update(status="draft")
    path = f"/media/{ready_post.image_renditions.first().name}"
    assert client.get(path).status_code == 404
    client.force_login(bob)
    assert client.get(path).status_code == 404
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]


def test_the_original_keeps_its_exif_so_only_staff_get_it(client, ready_post, alice):
    path = f"/media/{ready_post.image.name}"
    assert client.get(path).status_code == 404
    client.force_login(alice)
    response = client.get(path)
    assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg")


@pytest.mark.parametrize("path", [
    "/media/posts/renditions/999/nothing-480w.webp",
    "/media/../site_config/settings.py",
    "/media/posts/../../site_config/settings.py",
    "/media/%2e%2e/%2e%2e/etc/passwd",
    "/media/posts/renditions/..%2f..%2fdb.sqlite3",
    "/media//etc/passwd",
    "/media/stray.txt",
])
def test_anything_not_a_known_file_is_a_404_even_for_staff(client, ready_post, alice, path):
    default_storage.save("stray.txt", ContentFile(b"not listed"))  # in the storage, but not a post's
    client.force_login(alice)
    assert client.get(path).status_code == 404


def test_the_media_view_only_reads(client, ready_post):
    assert client.post(f"/media/{ready_post.image_renditions.first().name}").status_code == 405


# --- the post pages ---


def test_post_page_offers_webp_and_jpeg_sizes_with_dimensions_and_alt(client, ready_post):
    page = client.get(ready_post.get_absolute_url()).content.decode()
    webp = {row.width: row.name for row in ready_post.image_renditions.filter(format="webp")}
    jpeg = {row.width: row.name for row in ready_post.image_renditions.filter(format="jpeg")}
    assert sorted(webp) == sorted(jpeg) == [480, 960, 1200]
    source = re.search(r'<source type="image/webp" srcset="([^"]+)" sizes="([^"]+)">', page)
    assert source.group(1) == ", ".join(f"/media/{webp[width]} {width}w" for width in (480, 960, 1200))
    img = re.search(r"<img [^>]+>", page.split("<picture>", 1)[1]).group(0)
    assert f'srcset="{", ".join(f"/media/{jpeg[width]} {width}w" for width in (480, 960, 1200))}"' in img
    assert f'src="/media/{jpeg[960]}"' in img
    assert 'width="1200" height="800"' in img
    assert 'alt="Red and blue halves"' in img


def test_post_list_shows_the_image_too(client, ready_post):
    page = client.get("/blog/").content.decode()
    assert "<picture>" in page and 'type="image/webp"' in page


def test_a_post_whose_sizes_are_being_made_shows_a_placeholder(client, alice):
    post, _ = post_with_image(alice, jpeg_bytes())
    page = client.get(post.get_absolute_url()).content.decode()
    assert "The image is being prepared." in page
    assert "<picture>" not in page


def test_a_post_without_an_image_shows_neither(client, alice):
    post = make_post(alice)
    page = client.get(post.get_absolute_url()).content.decode()
    assert "<picture>" not in page and "being prepared" not in page


def test_deleting_a_post_removes_its_files(alice, django_capture_on_commit_callbacks, ready_post):
    names = [ready_post.image.name, *ready_post.image_renditions.values_list("name", flat=True)]
    with django_capture_on_commit_callbacks(execute=True):
        ready_post.delete()
    assert [name for name in names if default_storage.exists(name)] == []


def test_replacing_an_image_removes_the_old_files_after_commit(client, writer, django_capture_on_commit_callbacks):
    post, _ = post_with_image(writer, jpeg_bytes(700, 500))
    made_renditions(post)
    old = [post.image.name, *post.image_renditions.values_list("name", flat=True)]
    client.force_login(writer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/dashboard/posts/{post.pk}/", {
            **form_data(title=post.title, slug=post.slug), "image": upload(png_bytes(), "new.png", "image/png"),
        })
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.image.name.endswith(".png") and post.image_status == "pending"
    assert not post.image_renditions.exists()
    assert all(default_storage.exists(name) for name in old)  # nothing deleted before the commit
    for callback in callbacks:
        if not isinstance(callback, functools.partial):  # the file deletions; not the task's queueing
            callback()
    assert [name for name in old if default_storage.exists(name)] == []

