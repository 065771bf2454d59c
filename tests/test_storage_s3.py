"""Uploads and exports on object storage: a real S3-speaking server (moto's, tests/s3_helpers.py), the
site's own views and services; and the file system's streamed downloads, the sweep of orphaned
files, re-running renditions.

What a browser gets is followed as a browser would: the view's redirect, then the pre-signed URL.
"""

from __future__ import annotations

import re
import time
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from blog.models import Post
from blog.services import images
from dashboard.exports.models import Export
from dashboard.exports.services import export_write
from dashboard.storage_sweep import storage_orphans_sweep
from site_config.machinery.storage import CHUNK_BYTES
from tests.blog_helpers import make_post
from tests.conftest import grant
from tests.image_helpers import jpeg_bytes, open_image, post_with_image


def follow(location: str):
    """GET a pre-signed URL as the browser would after the redirect: (status, headers, body)."""
    with urllib.request.urlopen(location, timeout=20) as answer:
        return answer.status, answer.headers, answer.read()


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# --- post images on S3 ---


def test_an_upload_and_its_renditions_live_in_the_bucket_and_the_view_redirects_to_them(client, alice, s3_storage):
    writer = grant(alice, "blog.add_post", "blog.change_post")
    client.force_login(writer)
    photo = jpeg_bytes(1200, 800)
    response = client.post("/dashboard/posts/new/", {
        "title": "On S3", "slug": "", "body": "Body.", "status": "published", "image_alt": "halves",
        "image": SimpleUploadedFile("photo.jpg", photo, content_type="image/jpeg")})
    assert response.status_code == 302
    post = Post.objects.get(slug="on-s3")
    assert s3_storage.keys("posts/originals/") == [post.image.name]
    assert s3_storage.read(post.image.name) == photo
    images.post_image_renditions_make(post_id=post.pk)  # the task's service, as the worker runs it
    names = sorted(post.image_renditions.values_list("name", flat=True))
    assert len(names) == 6 and s3_storage.keys(f"posts/renditions/{post.pk}/") == names

    client.logout()
    rendition = post.image_renditions.get(format="webp", width=480)
    answer = client.get(f"/media/{rendition.name}")
    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith(f"{s3_storage.server.endpoint}/{s3_storage.name}/{rendition.name}?")
    assert query(location)["X-Amz-Expires"] == "604800"
    assert "public" in answer["Cache-Control"] and "max-age=302400" in answer["Cache-Control"]
    # Every request (every web process: the URL is in the shared cache) hands out the same URL,
    # so the browser's copy of the image stays good.
    assert client.get(f"/media/{rendition.name}")["Location"] == location
    status, headers, body = follow(location)
    assert (status, headers["Content-Type"]) == (200, "image/webp")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert open_image(body).size == (480, 320)


def test_originals_and_draft_renditions_get_short_private_urls_and_only_for_staff(client, alice, s3_storage):
    post, _ = post_with_image(alice, jpeg_bytes(800, 600), status="draft")
    images.post_image_renditions_make(post_id=post.pk)
    paths = [f"/media/{post.image.name}", f"/media/{post.image_renditions.first().name}"]
    assert [client.get(path).status_code for path in paths] == [404, 404]
    client.force_login(alice)
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 302 and "no-store" in answer["Cache-Control"]
        assert query(answer["Location"])["X-Amz-Expires"] == "120"
        status, headers, _body = follow(answer["Location"])
        assert status == 200 and headers["Cache-Control"] == "private, no-store"


def test_running_the_renditions_again_on_s3_leaves_exactly_one_complete_set(alice, s3_storage,
                                                                            django_capture_on_commit_callbacks):
    post, _ = post_with_image(alice, jpeg_bytes(1200, 800))
    with django_capture_on_commit_callbacks(execute=True):
        images.post_image_renditions_make(post_id=post.pk)
    first = set(post.image_renditions.values_list("name", flat=True))
    with django_capture_on_commit_callbacks(execute=True):  # a retry or a redelivery
        images.post_image_renditions_make(post_id=post.pk)
    second = set(post.image_renditions.values_list("name", flat=True))
    assert len(second) == 6 and not first & second  # a run never writes over the set pages show
    assert set(s3_storage.keys(f"posts/renditions/{post.pk}/")) == second  # the first set is gone
    assert all(open_image(s3_storage.read(name)).width in (480, 960, 1200) for name in second)


# --- exports on S3 ---


def _export(owner, **fields) -> Export:
    return Export.objects.create(owner=owner, kind=Export.Kind.MEMBER_DATA, task_id="t-1",
                                 expires_at=timezone.now() + timedelta(hours=1), **fields)


def test_an_export_is_written_to_the_bucket_and_downloads_through_a_short_lived_url(client, bob, alice, s3_storage):
    make_post(alice)
    export = _export(bob)
    export_write(export_id=export.pk, progress=lambda *report: None)
    export.refresh_from_db()
    assert s3_storage.keys("exports/") == [export.file.name]
    client.force_login(bob)
    answer = client.get(f"/dashboard/exports/{export.pk}/download/")
    assert answer.status_code == 302 and "no-store" in answer["Cache-Control"]
    assert query(answer["Location"])["X-Amz-Expires"] == "120"
    status, headers, body = follow(answer["Location"])
    assert status == 200
    assert body == s3_storage.read(export.file.name)
    assert headers["Content-Disposition"] == f'attachment; filename="{export.filename}"'
    assert headers["Content-Type"] == "application/json"
    client.force_login(alice)  # someone else: no URL at all
    assert client.get(f"/dashboard/exports/{export.pk}/download/").status_code == 404


# --- the file system: streamed, never read whole ---


def test_on_the_file_system_a_download_is_an_async_stream_of_chunks(client, bob):
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)  # three chunks and a bit
    export = _export(bob, status=Export.Status.READY, filename="member-data.json",
                     file=default_storage.save(f"exports/{bob.pk}/big.json", ContentFile(data)))
    client.force_login(bob)
    answer = client.get(f"/dashboard/exports/{export.pk}/download/")
    assert answer.status_code == 200
    assert answer.streaming and answer.is_async  # under ASGI: iterated chunk by chunk, never as a list
    assert answer["Content-Length"] == str(len(data))
    chunks = list(answer)
    assert [len(chunk) for chunk in chunks] == [CHUNK_BYTES] * 3 + [len(data) - 3 * CHUNK_BYTES]
    assert b"".join(chunks) == data


def test_through_daphne_a_download_read_slowly_arrives_whole_and_in_order(live_server_url, daphne_server, bob):
    """The back-pressure path (site_config/machinery/backpressure.py): daphne pauses the stream while
    the client does not read, resumes it when it does, and the file arrives byte for byte."""
    import hashlib
    import http.client

    from tests.conftest import session_cookie

    data = hashlib.sha256(b"seed").digest() * (6 * 1024 * 1024 // 32)  # 6 MB: more than socket buffers hold
    export = _export(bob, status=Export.Status.READY, filename="member-data.json",
                     file=default_storage.save(f"exports/{bob.pk}/slow.json", ContentFile(data)))
    log_before = len(daphne_server.log())  # the session's daphne: earlier tests' lines are theirs
    connection = http.client.HTTPConnection("127.0.0.1", int(daphne_server.url.rsplit(":", 1)[1]), timeout=60)
    connection.request("GET", f"/dashboard/exports/{export.pk}/download/", headers={"Cookie": session_cookie(bob)})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Length") == str(len(data))
    received = bytearray()
    while block := response.read(256 * 1024):
        received += block
        time.sleep(0.02)  # slower than the server: its buffers fill and it must wait
    connection.close()
    assert bytes(received) == data
    assert daphne_server.popen.poll() is None and "Traceback" not in daphne_server.log()[log_before:]


def test_a_missing_file_is_a_404_not_a_server_error(client, bob):
    export = _export(bob, status=Export.Status.READY, filename="member-data.json", file="exports/none/gone.json")
    client.force_login(bob)
    assert client.get(f"/dashboard/exports/{export.pk}/download/").status_code == 404


# --- orphans ---


@pytest.mark.parametrize("storage", ["file system", "s3"])
def test_the_sweep_removes_an_old_orphan_and_never_an_upload_in_flight(request, alice, storage, settings, tmp_path):
    if storage == "s3":
        request.getfixturevalue("s3_storage")
    else:  # a folder of this test's own: the session's media folder holds other tests' files
        settings.STORAGES = {**settings.STORAGES, "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    post, _ = post_with_image(alice, jpeg_bytes(64, 48))  # named by its row: never touched
    orphan = default_storage.save("posts/originals/orphan.jpg", ContentFile(b"rolled back"))
    written = default_storage.get_modified_time(orphan)
    # The upload in flight is written later than the orphan (S3 keeps times to the second); the sweep
    # then runs "now" = that moment, with a grace period that puts the orphan before it and the
    # upload after it: no race with the clock however slow the machine.
    time.sleep(1.1)
    in_flight = default_storage.save("posts/originals/in-flight.jpg", ContentFile(b"row not committed yet"))
    now = default_storage.get_modified_time(in_flight)
    assert now > written
    grace = (now - written) / 2
    assert storage_orphans_sweep(now=now, grace=grace) == [orphan]
    assert not default_storage.exists(orphan)
    assert default_storage.exists(in_flight) and default_storage.exists(post.image.name)
    assert storage_orphans_sweep(now=now, grace=grace) == []


def test_the_sweep_is_a_beat_job(settings):
    from dashboard.tasks import storage_orphans_sweep_task

    assert settings.PERIODIC_TASKS["sweep-orphaned-files"]["task"] == storage_orphans_sweep_task.name
    assert re.fullmatch(r"\d+", str(settings.STORAGE_ORPHAN_GRACE_HOURS))
