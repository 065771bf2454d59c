"""Blog data: posts, comments, member profiles, the email outbox and the moderation audit trail.

Other apps (the dashboard's daily report, the moderation queue) read these names; keep them stable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    """A member's extra state. Created at sign-up; staff created otherwise may have none, and a
    missing profile counts as unverified for commenting."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Set by the unsubscribe link in every announcement: staff announcements skip this member.
    announcements_opt_out = models.BooleanField(default=False)
    # The member's chosen language (a code of settings.LANGUAGES), or "" for the browser's: pages
    # after they log in, and every email to them, use it.
    language = models.CharField(max_length=10, blank=True, default="")

    def __str__(self) -> str:
        return f"profile of {self.user}"

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None


class Post(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="posts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class ImageStatus(models.TextChoices):
        NONE = "", _("No image")
        PENDING = "pending", _("Making web sizes")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    # The uploaded original, kept as it came (EXIF included, so it is served to staff only). Its name
    # is chosen by the site (a random stem, the extension of the decoded format), never the uploader.
    image = models.FileField(upload_to="posts/originals/", max_length=255, blank=True)
    image_alt = models.CharField(_("alternative text"), max_length=300, blank=True,
                                 help_text=_("What the image shows, for people who cannot see it."))
    image_status = models.CharField(max_length=10, choices=ImageStatus.choices, default=ImageStatus.NONE,
                                    blank=True, editable=False)
    image_error = models.TextField(blank=True, editable=False)
    # The renditions task of the current image (its live page at /dashboard/tasks/<id>/).
    image_task_id = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["status", "-published_at"], name="blog_post_status_pub")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("blog:post_detail", kwargs={"slug": self.slug})


class PostImageRendition(models.Model):
    """One web size of a post's image (blog/services/images.py writes them): a width in one format,
    stored under `name` in the default storage. Only names listed here (or a post's original) are
    ever served by the media view."""

    class Format(models.TextChoices):
        WEBP = "webp", "WebP"
        JPEG = "jpeg", "JPEG"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="image_renditions")
    name = models.CharField(max_length=255, unique=True)
    format = models.CharField(max_length=4, choices=Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["post", "format", "width"]

    def __str__(self) -> str:
        return f"{self.name} ({self.width}x{self.height} {self.format})"

    @property
    def content_type(self) -> str:
        return f"image/{self.format}"


class Comment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        HELD = "held", _("Held")
        SPAM = "spam", _("Spam")
        REJECTED = "rejected", _("Rejected")

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    score = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The moderation queue: one status, oldest first (optionally one post).
            models.Index(fields=["status", "created_at", "id"], name="blog_comment_queue"),
            models.Index(fields=["post", "status", "created_at"], name="blog_comment_post_status"),
            models.Index(fields=["author", "created_at"], name="blog_comment_author_created"),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} by {self.author_id} on post {self.post_id} ({self.status})"

    #: What its author sees of each state: every waiting one alike (pending, held, spam), so a
    #: spammer learns nothing from the page, its HTML or their data export.
    MEMBER_STATUS = {Status.PENDING: "awaiting moderation", Status.HELD: "awaiting moderation",
                     Status.SPAM: "awaiting moderation", Status.APPROVED: "approved", Status.REJECTED: "rejected"}

    @property
    def member_status(self) -> str:
        return self.MEMBER_STATUS[self.status]


class OutboundEmail(models.Model):
    """One email the site sends: written in the transaction of its cause, sent by a Celery task."""

    #: Kinds whose body is a key to someone's account (a password-reset or a verification link).
    #: Only superusers, who could take any account anyway, may read them in any UI; anyone else
    #: could reset a superuser's password and read the link. Their bodies are blanked once sent.
    SECRET_KINDS = ("password_reset", "verification")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    to = models.EmailField()
    subject = models.CharField(max_length=255)
    body = models.TextField()
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Whether the last error was the kind worth trying again (the SMTP server or the network).
    last_error_transient = models.BooleanField(default=False)
    # When a queued email is due for its next attempt; null: as soon as a worker takes it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Extra headers of the message, e.g. an announcement's List-Unsubscribe and List-Unsubscribe-Post.
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="blog_email_status_updated"),
            models.Index(fields=["status", "next_attempt_at"], name="blog_email_status_next"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"

    @property
    def is_secret(self) -> bool:
        return self.kind in self.SECRET_KINDS

    @property
    def is_blanked(self) -> bool:
        """A secret email whose body was blanked (sent, or failed for good)."""
        return self.is_secret and not self.body


class ModerationDecision(models.Model):
    """Audit trail: every status change of a comment, automatic (moderator null) or by staff."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="decisions")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    previous_status = models.CharField(max_length=10, choices=Comment.Status.choices)
    new_status = models.CharField(max_length=10, choices=Comment.Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        who = self.moderator_id or "auto"
        return f"comment {self.comment_id}: {self.previous_status} -> {self.new_status} by {who}"


class Announcement(models.Model):
    """A message from staff to every verified member who has not opted out, sent through the outbox
    in batches (blog.services.announcements). `last_member_id` is where sending stands: members are
    taken in primary-key order, so a resume continues after it."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Finished")

    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    #: Members handed to the outbox so far plus those still to come (recounted after every batch).
    recipients_total = models.PositiveIntegerField(default=0)
    last_member_id = models.BigIntegerField(default=0)
    #: Batches handed to the outbox; batch task N runs only when this is N - 1 (redelivery-safe).
    batches_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"announcement {self.pk}: {self.subject} ({self.status})"


class AnnouncementDelivery(models.Model):
    """One member's copy of an announcement: unique per (announcement, member), so nobody gets two."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="deliveries")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.OneToOneField(OutboundEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["announcement", "member"], name="blog_announcement_member_once"),
        ]

    def __str__(self) -> str:
        return f"announcement {self.announcement_id} to member {self.member_id}"
