"""Posts (/dashboard/posts/): staff list every post with its image's state, write one and edit one.

Writing needs blog's "Can add post", editing "Can change post" (the admin's own permissions); staff
without them see the list read-only. Saving a new image queues its renditions task for the author
and opens that task's live page, where the bar shows each web size being made."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError

from blog.forms import PostForm
from blog.models import Post
from blog.services import posts
from dashboard.permissions import ADD_POSTS, CHANGE_POSTS, may, needs, require
from site_config.machinery.staff import staff_required

POSTS_PER_PAGE = 25


@staff_required
def post_list(request):
    page = Paginator(Post.objects.select_related("author").order_by("-created_at", "-id"), POSTS_PER_PAGE)
    return render(request, "dashboard/posts/list.html", {
        "page": page.get_page(request.GET.get("page")),
        "can_add": may(request.user, ADD_POSTS),
        "can_change": may(request.user, CHANGE_POSTS),
        "add_needs": needs(ADD_POSTS),
    })


@staff_required
@require_http_methods(["GET", "POST"])
def post_create(request):
    require(request.user, ADD_POSTS)
    return _post_form(request, Post(author=request.user))


@staff_required
@require_http_methods(["GET", "POST"])
def post_edit(request, pk: int):
    require(request.user, CHANGE_POSTS)
    return _post_form(request, get_object_or_404(Post, pk=pk))


def _post_form(request, post: Post):
    creating = post.pk is None
    form = PostForm(request.POST or None, request.FILES or None, instance=post)
    if request.method == "POST" and form.is_valid():
        post = form.save(commit=False)
        try:
            task_id = posts.post_write(post=post, user=request.user)
        except OperationalError:
            messages.error(request, gettext("The post was saved, but the task queue (Redis) cannot be reached, so its "
                                            "image's web sizes are not being made: retry the task once Redis is back."))
            return redirect("dashboard:post_list")
        if task_id:
            messages.success(request, gettext("“%(post)s” was saved; its image's web sizes are being made.") % {"post": post})
            return redirect("dashboard:task_detail", task_id=task_id)
        messages.success(request, gettext("“%(post)s” was saved.") % {"post": post})
        return redirect("dashboard:post_list")
    return render(request, "dashboard/posts/form.html", {"form": form, "post": post, "creating": creating},
                  status=400 if form.errors else 200)
