"""Test images made with Pillow (never files shipped with the tests), and a post that carries one."""

from __future__ import annotations

from io import BytesIO

from django.core.files.base import ContentFile
from PIL import ExifTags, Image

from blog.models import Post
from blog.services import posts

RED, BLUE = (220, 20, 20), (20, 20, 220)


def two_colour_photo(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: where the halves end up shows how the picture was turned."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def jpeg_bytes(width: int = 640, height: int = 480, *, orientation: int | None = None, camera: str = "TestCam",
               comment: bytes = b"") -> bytes:
    """A JPEG with EXIF (a camera make, and an orientation when given) and optionally a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = camera
    exif[ExifTags.Base.ImageDescription] = "taken at home"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    buffer = BytesIO()
    two_colour_photo(width, height).save(buffer, "JPEG", quality=90, exif=exif.tobytes(), comment=comment)
    return buffer.getvalue()


def png_bytes(width: int = 64, height: int = 48, *, mode: str = "RGBA") -> bytes:
    buffer = BytesIO()
    Image.new(mode, (width, height), 0 if mode == "1" else (10, 200, 10, 128)[: len(mode)]).save(buffer, "PNG")
    return buffer.getvalue()


def post_with_image(author, data: bytes, *, name: str = "photo.jpg", slug: str = "with-image",
                    status: str = "published", alt: str = "Red and blue halves") -> tuple[Post, str | None]:
    """A post whose image file is stored as given, without the upload form's checks (as a shell
    session or a seed command could), through the same service the forms use. Returns the post and
    its renditions task id (queued on commit)."""
    post = Post(title=f"Post {slug}", slug=slug, body="Body.", author=author, status=status, image_alt=alt)
    post.image.save(name, ContentFile(data), save=False)
    task_id = posts.post_write(post=post, user=author)
    return post, task_id


def open_image(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def post_with_ready_image(author, data: bytes, *, slug: str = "pictured", alt: str = "Red and blue halves") -> Post:
    """A published post whose renditions are made in this process (no task queued): for pages."""
    from django.utils import timezone

    from blog.services import images

    post = Post(title=f"Post {slug}", slug=slug, body="Body.", author=author, status="published",
                published_at=timezone.now(), image_alt=alt)
    post.image.save("photo.jpg", ContentFile(data), save=False)
    post.save()
    images.post_image_renditions_make(post_id=post.pk)
    post.refresh_from_db()
    return post
