"""Admin: staff write posts here; comments, emails and decisions are listed for reference (the
outbox read-only)."""

from django.contrib import admin
from django.utils import timezone

from blog.models import Comment, ModerationDecision, OutboundEmail, Post, Profile


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "status", "published_at")
    list_filter = ("status",)
    search_fields = ("title", "body")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("created_at",)
    date_hierarchy = "published_at"

    def get_changeform_initial_data(self, request):
        return {"author": request.user.pk}

    def save_model(self, request, obj, form, change):
        if obj.status == Post.Status.PUBLISHED and obj.published_at is None:
            obj.published_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("pk", "post", "author", "status", "score", "created_at")
    list_filter = ("status",)
    search_fields = ("body",)
    raw_id_fields = ("post", "author", "moderated_by")
    # Status changes go through the moderation queue, so every decision is audited.
    readonly_fields = ("status", "created_at", "moderated_at", "moderated_by", "score", "reasons")


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "email_verified_at")
    raw_id_fields = ("user",)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
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
class ModerationDecisionAdmin(admin.ModelAdmin):
    list_display = ("comment", "moderator", "previous_status", "new_status", "created_at")
    list_filter = ("new_status",)
    raw_id_fields = ("comment", "moderator")
