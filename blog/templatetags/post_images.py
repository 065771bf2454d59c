"""`{% post_image post sizes="..." %}`: a post's image as <picture> (WebP sources, JPEG fallback,
srcset and sizes, width and height against layout shift) once its renditions are ready, a
placeholder while they are made, and to staff the reason when they failed."""

from __future__ import annotations

from django import template
from django.urls import reverse

from blog.models import Post
from blog.services import images

register = template.Library()

#: The fallback <img src> for browsers without srcset: the rendition nearest this width.
FALLBACK_WIDTH = 960


def _srcset(renditions) -> str:
    return ", ".join(f"{reverse('media_file', kwargs={'name': r.name})} {r.width}w" for r in renditions)


@register.inclusion_tag("blog/_post_image.html", takes_context=True)
def post_image(context, post: Post, sizes: str = "100vw", loading: str = "lazy") -> dict:
    state, error = images.post_image_state(post=post)
    result = {"post": post, "state": state, "error": error, "user": context.get("user"), "picture": None}
    if not post.image or state != Post.ImageStatus.READY:
        return result
    renditions = list(post.image_renditions.all())  # prefetched by the list page
    webp = sorted((r for r in renditions if r.format == "webp"), key=lambda r: r.width)
    jpeg = sorted((r for r in renditions if r.format == "jpeg"), key=lambda r: r.width)
    if not jpeg:
        return result
    fallback = min(jpeg, key=lambda r: abs(r.width - FALLBACK_WIDTH))
    largest = jpeg[-1]
    result["picture"] = {
        "webp_srcset": _srcset(webp),
        "jpeg_srcset": _srcset(jpeg),
        "src": reverse("media_file", kwargs={"name": fallback.name}),
        "width": largest.width,
        "height": largest.height,
        "sizes": sizes,
        "loading": loading,
        "alt": post.image_alt,
    }
    return result


@register.simple_tag
def post_image_state(post: Post) -> dict:
    """`{% post_image_state post as image %}`: {"status", "error", "label"} as the pages show them."""
    status, error = images.post_image_state(post=post)
    return {"status": status, "error": error, "label": Post.ImageStatus(status).label}
