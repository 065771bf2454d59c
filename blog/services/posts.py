"""Posts as staff write them (the admin and the dashboard's post pages): saving one, with its image."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from blog.models import Post
from blog.services import images


def post_write(*, post: Post, user) -> str | None:
    """Save `post` (new or changed) for `user`. Publishing stamps the time once; a new, replaced or
    removed image is handed to blog.services.images (old files go, the renditions task is queued
    after commit). Returns the renditions task's id when one was queued."""
    with transaction.atomic():
        previous = Post.objects.filter(pk=post.pk).values_list("image", flat=True).first() if post.pk else None
        if post.author_id is None:
            post.author = user
        if post.status == Post.Status.PUBLISHED and post.published_at is None:
            post.published_at = timezone.now()
        post.save()
        if (previous or "") != (post.image.name or ""):
            return images.post_image_changed(post=post, previous_name=previous or "", user=user)
    return None
