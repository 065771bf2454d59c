"""Post images: checking an upload, making the web sizes (renditions), and the post's image state.

Two layers:

- Pure Pillow, no database (`image_inspect`, `image_decode`, `renditions_encode`): what the upload
  form, the renditions task and `bench/post_images.py` share.
- Services on a post (`post_image_changed`, `post_image_renditions_make`, `post_image_cancelled`):
  every file goes through the default storage's API (open, save, delete), never a local path, so
  a worker on another host writes where the web process reads.

The original is kept as uploaded. Renditions are made from it: EXIF orientation applied, metadata
stripped (EXIF, XMP, comments; the ICC colour profile stays), several widths, never wider than the
original, each as WebP and JPEG. Memory stays low on large photos: a JPEG is decoded already
reduced to the largest width needed (`Image.draft`, done by libjpeg at a fraction of the cost), and
each smaller width is made from the one before it.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath

from celery import states
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext, gettext_lazy
from django_celery_results.models import TaskResult
from PIL import ExifTags, Image, UnidentifiedImageError

from blog.models import Post, PostImageRendition
from site_config.machinery.stored_texts import stored_text

logger = logging.getLogger(__name__)

#: Pillow format -> the extension the site gives the stored original.
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
#: Rendition formats in the order they are made (and offered in <picture>: WebP first).
RENDITION_FORMATS = ("webp", "jpeg")
#: EXIF orientations that turn the picture a quarter: its displayed width is its stored height.
QUARTER_TURNS = {5, 6, 7, 8}
#: EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose does).
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
NOT_READABLE = gettext_lazy("not an image Pillow can read (JPEG, PNG or WebP)")


class ImageRejected(Exception):
    """The file cannot become a post image; the message says why, in words for the uploader."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG or WEBP
    width: int  # as stored (before EXIF orientation)
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format]


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    format: str  # "webp" or "jpeg"
    data: bytes

    @property
    def label(self) -> str:
        return f"{self.width}w {self.format}"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".removesuffix(".0")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}".removesuffix(".0")


def _too_big(size: int, max_bytes: int) -> str:
    return gettext("file is %(size)s MB, over the %(limit)s MB limit") % {
        "size": _megabytes(size), "limit": _megabytes(max_bytes)}


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageRejected(gettext("image is %(size)s MP (%(width)sx%(height)s), over the %(limit)s MP limit") % {
            "size": _megapixels(width * height), "width": width, "height": height, "limit": _megapixels(max_pixels)})


def _open(source) -> Image.Image:
    """Open by content (the formats' own signatures and headers), never by a name or extension."""
    try:
        return Image.open(source, formats=list(FORMATS))
    except Image.DecompressionBombError as error:  # Pillow's own ceiling, far above ours
        raise ImageRejected(gettext("image is over the pixel limit (%(error)s)") % {"error": error}) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRejected(str(NOT_READABLE)) from None


def image_inspect(*, file, max_bytes: int | None = None, max_pixels: int | None = None) -> ImageInfo:
    """Check an upload before it is stored: its size in bytes, that Pillow recognises it as a JPEG,
    PNG or WebP from its content, its pixel count from the header, and Pillow's structural check.

    Cheap whatever the upload's size (the pixels are not decoded: the renditions task does that, and
    fails with the reason should the data turn out broken further in)."""
    max_bytes = settings.POST_IMAGE_MAX_BYTES if max_bytes is None else max_bytes
    max_pixels = settings.POST_IMAGE_MAX_PIXELS if max_pixels is None else max_pixels
    size = file.size
    if size > max_bytes:
        raise ImageRejected(_too_big(size, max_bytes))
    file.seek(0)
    try:
        with _open(file) as image:
            info = ImageInfo(format=image.format, width=image.width, height=image.height)
            _check_pixels(image.width, image.height, max_pixels)
            try:
                image.verify()
            except Exception:  # Pillow raises many kinds here; all mean the same to the uploader
                raise ImageRejected(str(NOT_READABLE)) from None
    finally:
        file.seek(0)
    return info


def original_name(info: ImageInfo) -> str:
    """A stored original's file name: random (unguessable, and unique per upload, so its renditions'
    names change with it and may be cached forever), with the extension of the decoded format."""
    return f"{uuid.uuid4().hex}.{info.extension}"


def rendition_widths(display_width: int, widths: Iterable[int]) -> list[int]:
    """The widths to make for an image `display_width` wide, smallest first: the configured ones that
    fit, plus the image's own width when it is narrower than the largest configured (never upscale)."""
    widths = sorted(set(widths))
    fitting = [width for width in widths if width <= display_width]
    if display_width < widths[-1] and display_width not in fitting:
        fitting.append(display_width)
    return fitting


def image_decode(*, source, widths: Iterable[int], max_pixels: int) -> tuple[Image.Image, list[tuple[int, int]]]:
    """Decode `source` (a binary file) at the largest rendition's size, upright (EXIF orientation
    applied), and the (width, height) of each rendition, smallest first.

    A JPEG is decoded reduced by libjpeg (1/2, 1/4 or 1/8) to no less than the largest rendition
    needs, so a 24 MP photo never holds its full 72 MB of pixels for a 1600 px rendition."""
    image = _open(source)
    if image.format not in FORMATS:
        raise ImageRejected(str(NOT_READABLE))
    _check_pixels(image.width, image.height, max_pixels)
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # an unreadable EXIF block: show the picture as stored
        orientation = 1
    stored_width, stored_height = image.size
    turned = orientation in QUARTER_TURNS
    display_width, display_height = (stored_height, stored_width) if turned else (stored_width, stored_height)
    sizes = [(width, max(1, round(display_height * width / display_width)))
             for width in rendition_widths(display_width, widths)]
    scale = sizes[-1][0] / display_width
    if image.format == "JPEG" and scale < 1:
        image.draft(None, (math.ceil(stored_width * scale), math.ceil(stored_height * scale)))
    try:
        image.load()
    except Exception as error:  # truncated or broken data: Pillow raises OSError, SyntaxError, ...
        raise ImageRejected(f"{NOT_READABLE}: {error}") from None
    image = _web_ready(image)
    # Down to the largest rendition first, then upright: the turn copies the smaller image only.
    largest_width, largest_height = sizes[-1]
    stored_target = (largest_height, largest_width) if turned else (largest_width, largest_height)
    if image.size != stored_target:
        image = image.resize(stored_target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if orientation in TRANSPOSE:
        image = image.transpose(TRANSPOSE[orientation])
    return image, sizes


def _web_ready(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency; only the ICC colour profile kept of its metadata
    (Pillow copies `info` to every resized copy and writes some of it, such as JPEG comments)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    target = "RGBA" if has_alpha else "RGB"
    # A profile describes the colours of the mode it came with: keep it only while the mode is RGB.
    icc_profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
    if image.mode != target:
        image = image.convert(target)
    image.info = {"icc_profile": icc_profile} if icc_profile else {}
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no transparency: paint a transparent image onto white."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    background.info = dict(image.info)
    return background


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = BytesIO()
    icc_profile = image.info.get("icc_profile")
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(buffer, fmt, **options)  # no exif=, xmp= or comment=: nothing else is written
    return buffer.getvalue()


def renditions_encode(*, image: Image.Image, sizes: list[tuple[int, int]], jpeg_quality: int,
                      webp_quality: int) -> Iterator[Rendition]:
    """Each size in WebP and JPEG, largest first, every smaller size resized from the one before."""
    current = image
    for width, height in reversed(sizes):
        if current.size != (width, height):
            current = current.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        yield Rendition(width, height, "webp", _encode(current, "WEBP", quality=webp_quality))
        yield Rendition(width, height, "jpeg", _encode(_flatten(current), "JPEG", quality=jpeg_quality,
                                                       optimize=True, progressive=True))


# --- a post's image ---


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a file left behind costs disk space, never a page
            logger.warning("could not delete media file %s", name, exc_info=True)


def post_image_changed(*, post: Post, previous_name: str, user) -> str | None:
    """Call in the transaction that saved `post` with a new image (or none): the previous image's
    renditions and files go (after commit), and the new image's renditions task is queued after
    commit for `user`, who may watch it. Returns the task id, or None when the image was removed."""
    stale = list(post.image_renditions.values_list("name", flat=True))
    post.image_renditions.all().delete()
    if previous_name and previous_name != post.image.name:
        stale.append(previous_name)
    if stale:
        transaction.on_commit(lambda: _delete_files(stale))
    if not post.image:
        fields = {"image_status": Post.ImageStatus.NONE, "image_error": "", "image_task_id": ""}
    else:
        from blog.tasks import post_image_renditions_task

        task_id = post_image_renditions_task.delay_for_on_commit(user, post.pk)
        fields = {"image_status": Post.ImageStatus.PENDING, "image_error": "", "image_task_id": task_id}
    Post.objects.filter(pk=post.pk).update(**fields)
    for field, value in fields.items():
        setattr(post, field, value)
    return fields["image_task_id"] or None


def post_image_renditions_make(*, post_id: int, task_id: str = "",
                               progress: Callable[[int, int, str], object] | None = None) -> dict:
    """Make the renditions of the post's current image and record them; `progress(done, total,
    "960w webp")` after each output (it may raise, e.g. the task's Cancelled: what was written is
    removed and the exception goes on).

    Idempotent: run again (a retry, a redelivery), it makes a fresh set under new names and
    replaces the last one, whose files go once the new rows are committed.
    The post changes only if its image is still the one this run read and no later run took the
    image over (conditional updates), so an upload made meanwhile is never overwritten. A file that
    cannot become an image marks the post failed with the reason and raises ImageRejected."""
    progress = progress or (lambda done, total, message: None)
    post = Post.objects.filter(pk=post_id).first()
    if post is None or not post.image:
        return {"post": post_id, "renditions": [], "note": "the post has no image"}
    name = post.image.name
    # This run is now the image's task (a dashboard retry has a new id): its end decides the state.
    Post.objects.filter(pk=post_id, image=name).update(
        image_task_id=task_id, image_status=Post.ImageStatus.PENDING, image_error=""
    )
    written: list[str] = []
    rows: list[PostImageRendition] = []
    try:
        try:
            size = default_storage.size(name)
            source = default_storage.open(name, "rb")
        except FileNotFoundError:
            raise ImageRejected("the original file is missing from storage") from None
        if size > settings.POST_IMAGE_MAX_BYTES:
            source.close()
            raise ImageRejected(_too_big(size, settings.POST_IMAGE_MAX_BYTES))
        with source:
            image, sizes = image_decode(source=source, widths=settings.POST_IMAGE_WIDTHS,
                                        max_pixels=settings.POST_IMAGE_MAX_PIXELS)
        total = len(sizes) * len(RENDITION_FORMATS)
        progress(0, total, stored_text("image.decoded"))
        # A name of this run's own: a re-run (retry, redelivery) never writes over the set pages
        # show, whether the storage would replace the key (S3) or rename the file (file system).
        stem = f"{PurePosixPath(name).stem}-{uuid.uuid4().hex[:8]}"
        outputs = renditions_encode(image=image, sizes=sizes, jpeg_quality=settings.POST_IMAGE_JPEG_QUALITY,
                                    webp_quality=settings.POST_IMAGE_WEBP_QUALITY)
        for done, rendition in enumerate(outputs, 1):
            extension = "jpg" if rendition.format == "jpeg" else rendition.format
            saved = default_storage.save(f"posts/renditions/{post_id}/{stem}-{rendition.width}w.{extension}",
                                         ContentFile(rendition.data))
            written.append(saved)
            rows.append(PostImageRendition(post_id=post_id, name=saved, format=rendition.format,
                                           width=rendition.width, height=rendition.height))
            progress(done, total, stored_text("image.rendition", label=rendition.label))
    except ImageRejected as error:
        _delete_files(written)
        Post.objects.filter(pk=post_id, image=name, image_task_id=task_id).update(
            image_status=Post.ImageStatus.FAILED, image_error=str(error)
        )
        raise
    except BaseException:
        _delete_files(written)  # cancelled, or the storage failed: no partial set stays behind
        raise
    with transaction.atomic():
        claimed = Post.objects.filter(pk=post_id, image=name, image_task_id=task_id).update(
            image_status=Post.ImageStatus.READY, image_error=""
        )
        if claimed:
            replaced = list(PostImageRendition.objects.filter(post_id=post_id).values_list("name", flat=True))
            PostImageRendition.objects.filter(post_id=post_id).delete()
            PostImageRendition.objects.bulk_create(rows)
            if replaced:
                transaction.on_commit(lambda: _delete_files(replaced))
    if not claimed:
        _delete_files(written)
        return {"post": post_id, "renditions": [], "note": "the image changed meanwhile; its own task makes its sizes"}
    return {
        "post": post_id,
        "url": post.get_absolute_url(),
        "renditions": [f"{row.width}w {row.format}" for row in rows],
    }


def post_image_cancelled(*, post_id: int, task_id: str, by: str) -> None:
    """The renditions task `task_id` was cancelled by `by` while running (its partial output already
    removed): the post says so to staff, unless another run has taken the image over meanwhile."""
    Post.objects.filter(pk=post_id, image_task_id=task_id, image_status=Post.ImageStatus.PENDING).update(
        image_status=Post.ImageStatus.FAILED, image_error=f"cancelled by {by} before the web sizes were made"
    )


def post_image_state(*, post: Post) -> tuple[str, str]:
    """(status, error) of the post's image as pages show it. A task cancelled while still queued never
    runs, so nothing recorded the end on the post: its result row, REVOKED, says so instead."""
    if post.image_status == Post.ImageStatus.PENDING and post.image_task_id:
        if TaskResult.objects.filter(task_id=post.image_task_id, status=states.REVOKED).exists():
            return Post.ImageStatus.FAILED, "cancelled before the web sizes were made"
    return post.image_status, post.image_error


def post_image_files_delete(*, post: Post) -> None:
    """After a post is deleted: its original and renditions leave the storage too (after commit)."""
    names = [rendition.name for rendition in post.image_renditions.all()]
    if post.image:
        names.append(post.image.name)
    if names:
        transaction.on_commit(lambda: _delete_files(names))
