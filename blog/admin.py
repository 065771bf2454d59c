"""Admin: staff write posts here (with an image); comments, emails and decisions are listed for reference (the
outbox read-only). Every list filters on its offered filters only (site_config/machinery/admin_lookups.py):
a lookup on an email's body would be a yes/no oracle on a reset link."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext

from blog.forms import PostForm
from blog.models import Comment, ModerationDecision, OutboundEmail, Post, Profile
from blog.services import posts
from site_config.machinery.admin_lookups import AllowListedLookups


@admin.register(Post)
class PostAdmin(AllowListedLookups, admin.ModelAdmin):
    """Posts with their image: an upload is checked by blog.forms.PostForm; saving it queues the
    renditions task and opens that task's live page (the dashboard's, reached by URL name only)."""

    form = PostForm
    fields = ("title", "slug", "author", "status", "published_at", "body", "image", "image_alt",
              "image_status", "image_error", "image_task", "created_at")
    list_display = ("title", "author", "status", "published_at", "image_status")
    list_filter = ("status", "image_status")
    search_fields = ("title", "body")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("created_at", "image_status", "image_error", "image_task")
    date_hierarchy = "published_at"

    def get_changeform_initial_data(self, request):
        return {"author": request.user.pk}

    def save_model(self, request, obj, form, change):
        request.post_image_task_id = posts.post_write(post=obj, user=request.user)

    def response_add(self, request, obj, post_url_continue=None):
        return self._to_task_page(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._to_task_page(request, obj) or super().response_change(request, obj)

    def _to_task_page(self, request, obj):
        task_id = getattr(request, "post_image_task_id", None)
        if not task_id:
            return None
        messages.success(request, gettext("“%(post)s” was saved; its image's web sizes are being made.") % {"post": obj})
        return redirect(reverse("dashboard:task_detail", kwargs={"task_id": task_id}))

    @admin.display(description="Renditions task")
    def image_task(self, obj):
        if not obj.image_task_id:
            return "-"
        url = reverse("dashboard:task_detail", kwargs={"task_id": obj.image_task_id})
        return format_html('<a href="{}">{}</a>', url, obj.image_task_id)


@admin.register(Comment)
class CommentAdmin(AllowListedLookups, admin.ModelAdmin):
    list_display = ("pk", "post", "author", "status", "score", "created_at")
    list_filter = ("status",)
    search_fields = ("body",)
    raw_id_fields = ("post", "author", "moderated_by")
    # Status changes go through the moderation queue, so every decision is audited.
    readonly_fields = ("status", "created_at", "moderated_at", "moderated_by", "score", "reasons")


@admin.register(Profile)
class ProfileAdmin(AllowListedLookups, admin.ModelAdmin):
    list_display = ("user", "email_verified_at")
    raw_id_fields = ("user",)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(AllowListedLookups, admin.ModelAdmin):
    """A record, never edited: re-addressing a queued password-reset email to oneself would hand over
    the account, and an edit could make the outbox say something other than what was sent. Failed
    emails are sent again from the dashboard's outbox, which goes through the service."""

    list_display = ("pk", "to", "kind", "subject", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("to", "subject")  # never the body: a search would probe the secret ones
    META_FIELDS = ("to", "subject", "kind", "status", "attempts", "last_error", "created_at", "updated_at", "sent_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        # Only superusers read a one-time account link (see OutboundEmail.SECRET_KINDS).
        readable = obj is None or not obj.is_secret or request.user.is_superuser
        return (*self.META_FIELDS, "body" if readable else "hidden_body")

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Body")
    def hidden_body(self, obj) -> str:
        return "Hidden: the message holds a one-time account link; only superusers can read it."


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(AllowListedLookups, admin.ModelAdmin):
    list_display = ("comment", "moderator", "previous_status", "new_status", "created_at")
    list_filter = ("new_status",)
    raw_id_fields = ("comment", "moderator")

