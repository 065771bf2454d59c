"""/media/<name>: uploaded post images from the default storage (WhiteNoise serves static files only,
and the storage may live on another host), given out by site_config.machinery.storage: streamed from
the file system, or a redirect to the object store's pre-signed URL.

Only names the database knows are served: a rendition of a published post to anyone, and to active
staff any rendition or original (originals keep the uploader's EXIF, location included, so the
public gets the stripped renditions only). Anything else is a 404, whatever the storage holds, so
no path, `..` or not, reaches a file the site did not list."""

from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_safe

from blog.models import Post, PostImageRendition
from site_config.machinery.staff import is_active_staff
from site_config.machinery.storage import stored_file_response

#: Content types of originals, by the extension the site gave them (blog.services.images.FORMATS).
ORIGINAL_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _find(request, name: str) -> tuple[str, bool]:
    """(content type, public) of the media file `name` if this request may have it; else Http404."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/"):
        raise Http404("No such file.")
    rendition = PostImageRendition.objects.filter(name=name).select_related("post").first()
    if rendition is not None:
        if rendition.post.status == Post.Status.PUBLISHED:
            return rendition.content_type, True
        if is_active_staff(request.user):
            return rendition.content_type, False
        raise Http404("No such file.")
    if is_active_staff(request.user) and Post.objects.filter(image=name).exists():
        return ORIGINAL_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream"), False
    raise Http404("No such file.")


@require_safe
def media_file(request, name: str):
    content_type, public = _find(request, name)
    # Public: a rendition's name is unique to its upload (a new image gets new names): cached for good.
    return stored_file_response(name, content_type=content_type, public=public)
