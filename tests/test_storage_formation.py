"""Many hosts, nothing shared on disk: web.1, web.2 and the worker each get a private folder of their
own (DJANGO_VAR_DIR: media, export scratch), as on separate machines; they share only the database,
Redis and, for the first case, one S3 stand-in (moto's server).

- On object storage: an image uploaded through web.1 gets its web sizes from the worker and is shown
  through web.2; an export the worker wrote downloads through web.2, byte for byte.
- On each process's local disk: the same steps fail as the deploy check site_config.W030 warns they
  would: the worker cannot find the upload, web.2 cannot find the export.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import urllib.request

import pytest

from blog.models import Comment, Post
from dashboard.exports.models import Export
from tests.blog_helpers import make_post
from tests.conftest import WORKDIR, grant, session_cookie, start_daphne, start_worker
from tests.image_helpers import jpeg_bytes, open_image
from tests.livetools import wait_for

pytestmark = [pytest.mark.live, pytest.mark.serial]

RENDITION = re.compile(r'/media/(posts/renditions/[^"\s,]+\.webp)')


class Host:
    """One web process, spoken to over HTTP with one person's session."""

    def __init__(self, process, cookie: str) -> None:
        self.process = process
        self.port = int(process.url.rsplit(":", 1)[1])
        self.cookies = dict(part.split("=", 1) for part in cookie.split("; "))

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = ""):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if method == "POST":
            origin = f"http://127.0.0.1:{self.port}"
            headers.update({"Origin": origin, "Referer": origin + path, "X-CSRFToken": self.cookies["csrftoken"],
                            "Content-Type": content_type})
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.body = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        connection.close()
        return response

    def post_form(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None = None):
        self.request("GET", path)  # the form page sets the CSRF cookie
        boundary = secrets.token_hex(16)
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, (filename, data, content_type) in (files or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")


@pytest.fixture
def hosts(request, transactional_db, sole_consumer):
    """web.1, web.2 and a worker, each with a private folder; on one bucket when the test asks for S3."""
    storage_env = request.getfixturevalue("s3_bucket").env if request.param == "s3" else {}
    run = secrets.token_hex(3)
    started = []
    try:
        for name in ("web1", "web2"):
            env = {"DJANGO_VAR_DIR": str(WORKDIR / f"host-{run}-{name}"), **storage_env}
            started.append(start_daphne(f"{name}-{run}", env=env))
        env = {"DJANGO_VAR_DIR": str(WORKDIR / f"host-{run}-worker"), **storage_env}
        started.append(start_worker(f"storage-worker-{run}", env=env))
        yield {"web1": started[0], "web2": started[1], "worker": started[2], "run": run}
    finally:
        for process in reversed(started):
            process.stop()


def _upload_through(web: Host) -> Post:
    answer = web.post_form("/dashboard/posts/new/", {
        "title": "Far away", "slug": "", "body": "Seen from another host.", "status": "published",
        "image_alt": "Red and blue halves"}, {"image": ("photo.jpg", jpeg_bytes(1200, 800), "image/jpeg")})
    assert answer.status == 302, answer.body[-2000:]
    return Post.objects.get(slug="far-away")


def _export_through(web: Host) -> Export:
    answer = web.post_form("/dashboard/my-data/", {"ask": "export"})  # an empty multipart body is a 400
    assert answer.status == 302, answer.body[-2000:]
    return Export.objects.get()


def _ended(model, pk, field: str, waiting: str):
    return lambda: model.objects.filter(pk=pk).exclude(**{field: waiting}).first()


@pytest.mark.parametrize("hosts", ["s3"], indirect=True)
def test_on_object_storage_an_upload_and_an_export_cross_hosts(hosts, alice, bob, s3_bucket):
    writer = grant(alice, "blog.add_post", "blog.change_post")
    web1 = Host(hosts["web1"], session_cookie(writer))
    web2 = Host(hosts["web2"], session_cookie(writer))

    post = _upload_through(web1)
    post = wait_for(_ended(Post, post.pk, "image_status", Post.ImageStatus.PENDING), timeout=90)
    assert (post.image_status, post.image_error) == (Post.ImageStatus.READY, "")
    page = web2.request("GET", post.get_absolute_url())
    assert page.status == 200
    # The image's redirect leads to the bucket's origin, which the page's policy allows for images.
    policy = dict(part.strip().split(" ", 1) for part in page.getheader("Content-Security-Policy").split(";"))
    assert s3_bucket.server.endpoint in policy["img-src"].split()
    shown = RENDITION.findall(page.body.decode())
    assert shown and set(shown) <= set(post.image_renditions.values_list("name", flat=True))
    image = Host(hosts["web2"], "sessionid=none").request("GET", f"/media/{shown[0]}")  # anyone, via web.2
    assert image.status == 302
    with urllib.request.urlopen(image.getheader("Location"), timeout=20) as stored:
        assert open_image(stored.read()).format == "WEBP"

    Comment.objects.create(post=make_post(alice, slug="talk"), author=bob, body="from bob", status="approved")
    member1 = Host(hosts["web1"], session_cookie(bob))
    export = _export_through(member1)
    export = wait_for(_ended(Export, export.pk, "status", Export.Status.WRITING), timeout=90)
    assert export.status == Export.Status.READY
    download = Host(hosts["web2"], session_cookie(bob)).request("GET", f"/dashboard/exports/{export.pk}/download/")
    assert download.status == 302
    with urllib.request.urlopen(download.getheader("Location"), timeout=20) as stored:
        body = stored.read()
    assert body == s3_bucket.read(export.file.name)  # what the worker wrote, byte for byte
    assert [comment["body"] for comment in json.loads(body)["comments"]] == ["from bob"]
    # Nothing of it stayed on any host's disk: scratch emptied, no media folder written.
    for name in ("web1", "web2", "worker"):
        folder = WORKDIR / f"host-{hosts['run']}-{name}"
        assert not [path for path in folder.rglob("*") if path.is_file() and "media" in path.parts]
    assert not list((WORKDIR / f"host-{hosts['run']}-worker" / "exports-work").rglob("*.part"))


@pytest.mark.parametrize("hosts", ["local"], indirect=True)
def test_on_each_hosts_own_disk_the_worker_and_the_other_web_process_find_nothing(hosts, alice, bob):
    writer = grant(alice, "blog.add_post", "blog.change_post")
    web1 = Host(hosts["web1"], session_cookie(writer))

    post = _upload_through(web1)
    post = wait_for(_ended(Post, post.pk, "image_status", Post.ImageStatus.PENDING), timeout=90)
    assert (post.image_status, post.image_error) == (Post.ImageStatus.FAILED, "the original file is missing from storage")

    member1 = Host(hosts["web1"], session_cookie(bob))
    export = _export_through(member1)
    export = wait_for(_ended(Export, export.pk, "status", Export.Status.WRITING), timeout=90)
    assert export.status == Export.Status.READY  # on the worker's own disk
    download = Host(hosts["web2"], session_cookie(bob)).request("GET", f"/dashboard/exports/{export.pk}/download/")
    assert download.status == 404


def test_a_worker_empties_its_own_scratch_folder_at_start_and_after_each_job(transactional_db, alice, sole_consumer):
    """Scratch files are the worker's own (EXPORT_WORK_DIR/<node name>/): what a killed predecessor
    left goes when the worker starts; a job's file goes when the job ends, however it ended."""
    import socket
    import uuid

    from django.test import override_settings

    from dashboard.exports.scratch import scratch_dir, scratch_path
    from dashboard.tasks import demo_job_task

    run = secrets.token_hex(3)
    var_dir = WORKDIR / f"host-{run}-scratch-worker"
    name = f"scratch-worker-{run}"
    node = f"{name}@{socket.gethostname()}"
    with override_settings(EXPORT_WORK_DIR=var_dir / "exports-work"):
        left = scratch_path(node=node, task_id="killed-mid-export")
        other = scratch_dir(node="another-worker@elsewhere") / "its-job.part"
        for path in (left, other):
            path.parent.mkdir(parents=True)
            path.write_text("partial")
        worker = start_worker(name, env={"DJANGO_VAR_DIR": str(var_dir)})
        try:
            wait_for(lambda: not left.exists(), timeout=30)
            assert other.exists()  # another worker's folder is never touched

            task_id = str(uuid.uuid4())
            job = scratch_path(node=node, task_id=task_id)
            job.parent.mkdir(parents=True, exist_ok=True)  # the start-up clear removed the folder
            job.write_text("a job's scratch file, left behind")
            demo_job_task.apply_async_for(alice, args=[1, 0], task_id=task_id).get(timeout=60)
            wait_for(lambda: not job.exists(), timeout=30)
            assert other.exists()
        finally:
            worker.stop()
