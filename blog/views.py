"""Public blog pages (posts, comments) and member pages (sign-up, email verification)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language, gettext, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django.views.i18n import set_language as django_set_language

from blog.forms import CommentForm, SignupForm
from blog.models import Comment, OutboundEmail, Post
from blog.services import announcements, comments, members, outbox

AWAITING = [status for status, shown in Comment.MEMBER_STATUS.items() if shown == "awaiting moderation"]


def _published():
    return Post.objects.filter(status=Post.Status.PUBLISHED).select_related("author")


def post_list(request):
    posts = _published().prefetch_related("image_renditions").order_by("-published_at", "-id")
    page = Paginator(posts, settings.BLOG_POSTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "blog/post_list.html", {"page": page})


def _visible_comments(post, user):
    """Approved comments for everyone; a member also sees their own that wait for moderation
    (spam included, shown as waiting, so a spammer learns nothing)."""
    visible = Q(status=Comment.Status.APPROVED)
    if user.is_authenticated:
        visible |= Q(author=user, status__in=AWAITING)
    return post.comments.filter(visible).select_related("author").order_by("created_at", "id")


def _comments_page(post, user, after: int | None) -> tuple[list[Comment], int | None]:
    """A page of visible comments, oldest first, after the comment `after` (keyset: its time and id,
    so a page costs the same however many comments come before it), and the id to continue after."""
    comments = _visible_comments(post, user)
    if after is not None:
        anchor = post.comments.filter(pk=after).values_list("created_at", flat=True).first()
        if anchor is None:  # deleted meanwhile: ids still follow creation closely enough
            comments = comments.filter(pk__gt=after)
        else:
            comments = comments.filter(Q(created_at__gt=anchor) | Q(created_at=anchor, pk__gt=after))
    size = settings.BLOG_COMMENTS_PER_PAGE
    page = list(comments[: size + 1])
    if len(page) > size:
        return page[:size], page[size - 1].pk
    return page, None


def _after(request) -> int | None:
    raw = request.GET.get("after", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


def _detail_context(request, post, form=None):
    can_comment = members.member_is_verified(user=request.user)
    after = _after(request) if request.method == "GET" else None
    comments, next_after = _comments_page(post, request.user, after)
    context = {
        "post": post,
        "comments": comments,
        "after": after,
        "next_after": next_after,
        "form": form or CommentForm(),
        "can_comment": can_comment,
    }
    if request.user.is_authenticated and not can_comment:
        context.update(_email_state_context(_watched_email(request)))  # where their confirmation link is
    return context


@vary_on_headers("HX-Request")
def post_detail(request, slug: str):
    """The post and its first page of comments; `?after=<id>` continues after that comment (a link
    without JavaScript; with htmx the next comments are appended to the list)."""
    post = get_object_or_404(_published(), slug=slug)
    context = _detail_context(request, post)
    if request.htmx and context["after"] is not None:
        return render(request, "blog/post_detail.html#comments-more-response", context)
    return render(request, "blog/post_detail.html", context)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def comment_create(request, slug: str):
    """HTMX: answers the form partial (errors in place, or a fresh form plus the new comment);
    without JS: redirects to the post, or re-renders the page with the errors."""
    post = get_object_or_404(_published(), slug=slug)
    form = CommentForm(request.POST)
    comment = None
    status = 200
    if form.is_valid():
        try:
            comment = comments.comment_create(post=post, author=request.user, body=form.cleaned_data["body"])
        except comments.CommentRateLimited as error:
            form.add_error(None, str(error))
            status = 429
        except comments.CommentNotAllowed as error:
            form.add_error(None, str(error))
            status = 403
    else:
        status = 400
    if request.htmx:
        context = _detail_context(request, post, form=CommentForm() if comment else form)
        context["new_comment"] = comment
        # htmx swaps 200 answers only; the error is in the fragment itself.
        return render(request, "blog/post_detail.html#comment-form-response", context)
    if comment is not None:
        messages.success(request, gettext("Thanks! Your comment is awaiting moderation."))
        return redirect(f"{post.get_absolute_url()}#comment-{comment.pk}")
    return render(request, "blog/post_detail.html", _detail_context(request, post, form=form), status=status)


def signup(request):
    if request.user.is_authenticated:
        return redirect("blog:post_list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        members.member_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        # The same answer whether the address was new or already registered (its owner is told by
        # email), so sign-up cannot tell anyone who has an account. For the same reason the new
        # member is not logged in here: a session would tell the two cases apart. Either way an
        # email to that address was just written (or, for a repeat within the cooldown, shortly
        # before): the page follows that email's real state.
        address = form.cleaned_data["email"]
        latest = OutboundEmail.objects.filter(to__iexact=address).order_by("-created_at", "-pk").first()
        return render(request, "blog/signup_done.html", {"email": address, **_email_state_context(latest, watch=True)})
    return render(request, "blog/signup.html", {"form": form}, status=400 if form.errors else 200)


VERIFY_STATUS = {
    members.VerifyOutcome.PENDING: 200,
    members.VerifyOutcome.VERIFIED: 200,
    members.VerifyOutcome.ALREADY_USED: 410,
    members.VerifyOutcome.EXPIRED: 400,
    members.VerifyOutcome.INVALID: 400,
}


@require_http_methods(["GET", "HEAD", "POST"])
def verify_email(request, token: str):
    """GET shows what the link is and, while it is good, a "Confirm my email" button; only the POST
    that button sends confirms. Mail scanners and link previews open links (GET) but do not submit
    forms, so they cannot confirm an address on someone's behalf."""
    if request.method == "POST":
        outcome, user = members.member_verify(token=token)
    else:
        outcome, user = members.verification_check(token=token)
    context = {"outcome": outcome.value, "verified_user": user}
    return render(request, "blog/verify_result.html", context, status=VERIFY_STATUS[outcome])


EMAIL_STATE_SALT = "blog.email-state"
EMAIL_STATE_MAX_AGE = 2 * 24 * 3600


def _watched_email(request) -> OutboundEmail | None:
    """The email this visitor is waiting for: the one sign-up wrote (named by a signed token in the
    page's polling URL: no session, and nobody can ask about another's email), else (a member) their
    latest confirmation link."""
    token = request.GET.get("e")
    if token:
        try:
            email_id = signing.loads(token, salt=EMAIL_STATE_SALT, max_age=EMAIL_STATE_MAX_AGE)
        except signing.BadSignature:
            return None
        return OutboundEmail.objects.filter(pk=email_id).first()
    if request.user.is_authenticated:
        return (OutboundEmail.objects.filter(to__iexact=request.user.email, kind="verification")
                .order_by("-created_at", "-pk").first())
    return None


def _email_state_context(email: OutboundEmail | None, *, watch: bool = False, token: str = "") -> dict:
    if email is None:
        return {"email_state": None, "email_final": True}
    return {"email_state": outbox.email_state(email), "email_status": email.status,
            "email_final": email.status in (OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED),
            "email_watch": token or (signing.dumps(email.pk, salt=EMAIL_STATE_SALT) if watch else "")}


@vary_on_headers("HX-Request")
def email_state(request):
    """The state of the email this visitor waits for ("sending", "sent", "not sent yet ... retrying
    at ..."), as the fragment the sign-up and confirmation pages poll while it is not final."""
    return render(request, "blog/_email_state.html",
                  _email_state_context(_watched_email(request), token=request.GET.get("e", "")))


@login_required
@require_POST
def verify_email_resend(request):
    if members.member_is_verified(user=request.user):
        messages.info(request, gettext("Your email address is already confirmed."))
    elif members.verification_resend(user=request.user):
        messages.success(request, gettext("A new confirmation link is on its way to %(email)s.") % {"email": request.user.email})
    else:
        wait = settings.VERIFICATION_RESEND_COOLDOWN_SECONDS
        messages.error(request, ngettext(
            "A link was sent less than %(seconds)d second ago. Please wait before asking again.",
            "A link was sent less than %(seconds)d seconds ago. Please wait before asking again.", wait,
        ) % {"seconds": wait})
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/blog/"
    return redirect(next_url)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def announcements_unsubscribe(request, token: str):
    """The link in every announcement. GET shows an "Unsubscribe" button (mail scanners open links,
    they do not submit forms); its POST, or a mail client's RFC 8058 one-click POST
    (`List-Unsubscribe=One-Click`, sent without cookies), opts the member out. CSRF-exempt: the
    signed token is what authorises it, and all it can do is unsubscribe the token's own member."""
    member = announcements.announcement_unsubscribe_member(token=token)
    if member is None:
        return render(request, "blog/unsubscribe.html", {"outcome": "invalid"}, status=400)
    if request.method == "POST":
        announcements.announcement_unsubscribe(member=member)
        return render(request, "blog/unsubscribe.html", {"outcome": "unsubscribed", "member": member})
    return render(request, "blog/unsubscribe.html", {"outcome": "confirm", "member": member})


@require_POST
def language_set(request):
    """The header's language switch: Django's set_language (the cookie, back to the page) and, for a
    signed-in member, their profile, so the choice follows them to other browsers and their emails."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES) and check_for_language(language):
        members.member_language_set(user=request.user, language=language)
    return response
