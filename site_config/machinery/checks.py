"""The project's own deploy checks (`manage.py check --deploy`): for the middleware Django cannot see,
and for uploads and exports written to a local disk.

MIDDLEWARE names the async subclasses in site_config/machinery/middleware.py, not Django's class paths. Django's
deploy checks test for those exact paths, so they report security.W001/W002/W003 ("middleware
missing") and, worse, silently skip every check that depends on them: HSTS, the HTTPS redirect,
nosniff, the referrer and opener policies, X-Frame-Options, the CSRF cookie flag.

Settings silence exactly W001-W003. This module puts back what they were for:

- site_config.W001/W002/W003 fire when no subclass of Django's SecurityMiddleware,
  XFrameOptionsMiddleware or CsrfViewMiddleware is in MIDDLEWARE (ours, or Django's own);
- the checks Django skips run against our subclasses, with Django's own messages and ids under our
  prefix (security.W004 -> site_config.W004, ...). When MIDDLEWARE names Django's own class path,
  Django runs them itself and these stay quiet, so nothing is reported twice;
- site_config.W030 fires when DEBUG is off, the database is a server (with SQLite every process
  runs on this host), and the "default" storage (post images, exports) is a folder of the local
  disk, unless STORAGE_LOCAL_DISK_SHARED says that folder is shared on purpose: a worker on another
  host could not read an upload, nor a web process an export.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.checks.security import base, csrf
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

SECURITY = "django.middleware.security.SecurityMiddleware"
XFRAME = "django.middleware.clickjacking.XFrameOptionsMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"

HINT = "Django skips its own check because MIDDLEWARE names the site's subclass (site_config/machinery/middleware.py)."


def _subclass_installed(django_class: type) -> bool:
    """Whether any MIDDLEWARE entry is `django_class` or a subclass of it."""
    for path in settings.MIDDLEWARE:
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django's own start-up reports a middleware it cannot import
        if isinstance(middleware, type) and issubclass(middleware, django_class):
            return True
    return False


def _only_subclass_installed(django_path: str, django_class: type) -> bool:
    """A subclass is installed and Django's own path is not, so Django skipped the check itself."""
    return django_path not in settings.MIDDLEWARE and _subclass_installed(django_class)


def _ours(django_message, *, hint: str | None = HINT):
    """Django's message with our id: security.W004 -> site_config.W004."""
    kind = Error if django_message.is_serious() else Warning
    return kind(django_message.msg, hint=django_message.hint or hint, id="site_config." + django_message.id.split(".", 1)[1])


# --- (1) the middleware are there ---

@register(Tags.security, deploy=True)
def check_middleware_installed(app_configs, **kwargs):
    missing = []
    if not _subclass_installed(SecurityMiddleware):
        missing.append(Warning(
            "No SecurityMiddleware in MIDDLEWARE: HSTS, the HTTPS redirect, nosniff and the referrer and "
            "opener policies are off.", hint="Add 'site_config.machinery.middleware.SecurityMiddleware' first.",
            id="site_config.W001"))
    if not _subclass_installed(XFrameOptionsMiddleware):
        missing.append(Warning(
            "No XFrameOptionsMiddleware in MIDDLEWARE: pages are sent without an X-Frame-Options header.",
            hint="Add 'site_config.machinery.middleware.XFrameOptionsMiddleware'.", id="site_config.W002"))
    if not _subclass_installed(CsrfViewMiddleware):
        missing.append(Warning(
            "No CsrfViewMiddleware in MIDDLEWARE: forms are not protected against cross-site request forgery.",
            hint="Add 'site_config.machinery.middleware.CsrfViewMiddleware'.", id="site_config.W003"))
    return missing


# --- (2) what Django skips without its own class paths (django/core/checks/security/base.py, csrf.py) ---

@register(Tags.security, deploy=True)
def check_security_middleware_settings(app_configs, **kwargs):
    if not _only_subclass_installed(SECURITY, SecurityMiddleware):
        return []
    found = []
    if not settings.SECURE_HSTS_SECONDS:
        found.append(_ours(base.W004))
    else:
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS is not True:
            found.append(_ours(base.W005))
        if settings.SECURE_HSTS_PRELOAD is not True:
            found.append(_ours(base.W021))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF is not True:
        found.append(_ours(base.W006))
    if settings.SECURE_SSL_REDIRECT is not True:
        found.append(_ours(base.W008))
    policy = settings.SECURE_REFERRER_POLICY
    if policy is None:
        found.append(_ours(base.W022))
    else:
        values = {v.strip() for v in policy.split(",")} if isinstance(policy, str) else set(policy)
        if not values <= base.REFERRER_POLICY_VALUES:
            found.append(_ours(base.E023))
    opener = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    if opener is not None and opener not in base.CROSS_ORIGIN_OPENER_POLICY_VALUES:
        found.append(_ours(base.E024))
    return found


@register(Tags.security, deploy=True)
def check_xframe_options_settings(app_configs, **kwargs):
    if _only_subclass_installed(XFRAME, XFrameOptionsMiddleware) and settings.X_FRAME_OPTIONS != "DENY":
        return [_ours(base.W019)]
    return []


@register(Tags.security, deploy=True)
def check_csrf_settings(app_configs, **kwargs):
    if (_only_subclass_installed(CSRF, CsrfViewMiddleware) and not settings.CSRF_USE_SESSIONS
            and settings.CSRF_COOKIE_SECURE is not True):
        return [_ours(csrf.W016)]
    return []


# --- (3) uploads and exports where every process can reach them ---

@register("storage", deploy=True)
def check_uploads_storage(app_configs, **kwargs):
    from site_config.machinery.storage import storage_is_local

    # A SQLite database is a file on this host's disk too: every process reaching it runs here, so
    # uploads on this disk reach them all. Only a database server lets processes run on other hosts.
    on_this_host_only = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if settings.DEBUG or settings.STORAGE_LOCAL_DISK_SHARED or on_this_host_only or not storage_is_local():
        return []
    return [Warning(
        "Post images and exports are written to this host's disk (STORAGES['default'] is the file system "
        "under DJANGO_MEDIA_ROOT): a worker on another host cannot read an upload to make its web sizes, "
        "and a web process on another host answers an export's download with 'file is gone'.",
        hint="Set STORAGE_S3_BUCKET (and STORAGE_S3_ENDPOINT_URL and credentials) to use object storage, "
             "or STORAGE_LOCAL_DISK_SHARED=1 if every web and worker process runs on this host or mounts "
             "the same folder (docs/configuration.md).",
        id="site_config.W030")]
