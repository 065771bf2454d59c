"""The dashboard's named permissions and the one check that pages, POSTs and sockets share
(on top of the one "active staff" check, site_config/machinery/staff.py).

Looking at the dashboard is for active staff; every action that changes something needs its own
permission, granted in the admin to a user or a group (superusers hold them all). A page shows
staff without the permission a read-only view that says which permission is needed; the server
refuses their POSTs with a 403 saying the same. docs/security.md "Who may read and do what" lists them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from site_config.machinery.staff import is_active_staff

ACT_ON_TASKS = "dashboard.act_on_tasks"
DECIDE_COMMENTS = "dashboard.decide_comments"
RESEND_EMAIL = "dashboard.resend_email"
START_DEMO_JOB = "dashboard.start_demo_job"
EXPORT_DATA = "dashboard.export_data"
SEND_ANNOUNCEMENT = "dashboard.send_announcement"
CHANGE_SCHEDULES = "django_celery_beat.change_periodictask"
ADD_SCHEDULES = "django_celery_beat.add_periodictask"
DELETE_SCHEDULES = "django_celery_beat.delete_periodictask"
PURGE_QUEUE = "dashboard.purge_queue"
ADD_POSTS = "blog.add_post"
CHANGE_POSTS = "blog.change_post"
# Worker control and running tasks (dashboard.models.ControlAction): none is granted to staff by
# default; they are new powers, held by superusers until someone grants them.
RESIZE_WORKER_POOL = "dashboard.resize_worker_pool"
AUTOSCALE_WORKERS = "dashboard.autoscale_workers"
CHANGE_WORKER_QUEUES = "dashboard.change_worker_queues"
SET_TASK_RATE_LIMIT = "dashboard.set_task_rate_limit"
SET_TASK_TIME_LIMIT = "dashboard.set_task_time_limit"
SHUT_DOWN_WORKERS = "dashboard.shut_down_workers"
RESTART_WORKER_POOL = "dashboard.restart_worker_pool"
RUN_TASK = "dashboard.run_task"

#: What a read-only page and a refusal say: the action (translated), and the permission as the admin
#: names it (its stored English name, so it can be found there whatever the page's language).
NEEDS = {
    ACT_ON_TASKS: (_("Retrying, revoking and terminating tasks needs the permission “%(permission)s”."),
                   "Can retry, revoke and terminate tasks from the dashboard"),
    DECIDE_COMMENTS: (_("Deciding comments needs the permission “%(permission)s”."),
                      "Can decide comments (approve, reject, mark as spam)"),
    RESEND_EMAIL: (_("Sending a failed email again needs the permission “%(permission)s”."),
                   "Can send failed emails again"),
    START_DEMO_JOB: (_("Starting the demo job needs the permission “%(permission)s”."), "Can start the demo job"),
    EXPORT_DATA: (_("Exporting needs the permission “%(permission)s”."),
                  "Can export tasks, the moderation queue and comments as CSV"),
    SEND_ANNOUNCEMENT: (_("Sending, pausing and resuming announcements needs the permission “%(permission)s”."),
                        "Can send announcements to all members"),
    CHANGE_SCHEDULES: (_("Changing or running schedules needs the permission “%(permission)s”."),
                       "Can change periodic task"),
    ADD_SCHEDULES: (_("Creating or duplicating schedules needs the permission “%(permission)s”."),
                    "Can add periodic task"),
    DELETE_SCHEDULES: (_("Deleting schedules needs the permission “%(permission)s”."), "Can delete periodic task"),
    PURGE_QUEUE: (_("Purging a queue needs the permission “%(permission)s”."),
                  "Can purge a queue (its waiting tasks are revoked)"),
    ADD_POSTS: (_("Writing a post needs the permission “%(permission)s”."), "Can add post"),
    CHANGE_POSTS: (_("Editing a post needs the permission “%(permission)s”."), "Can change post"),
    RESIZE_WORKER_POOL: (_("Growing or shrinking a pool needs the permission “%(permission)s”."),
                         "Can grow and shrink a worker's pool"),
    AUTOSCALE_WORKERS: (_("Changing autoscale needs the permission “%(permission)s”."),
                        "Can change a worker's autoscale range"),
    CHANGE_WORKER_QUEUES: (_("Adding or cancelling a consumer needs the permission “%(permission)s”."),
                           "Can make a worker consume from a queue or stop consuming"),
    SET_TASK_RATE_LIMIT: (_("Setting a rate limit needs the permission “%(permission)s”."),
                          "Can set a task's rate limit on the workers"),
    SET_TASK_TIME_LIMIT: (_("Setting time limits needs the permission “%(permission)s”."),
                          "Can set a task's soft and hard time limits on the workers"),
    SHUT_DOWN_WORKERS: (_("Shutting down workers needs the permission “%(permission)s”."), "Can shut down workers"),
    RESTART_WORKER_POOL: (_("Restarting a pool needs the permission “%(permission)s”."), "Can restart a worker's pool"),
    RUN_TASK: (_("Running a task needs the permission “%(permission)s”."),
               "Can run any registered task with chosen arguments"),
}


def needs(permission: str) -> str:
    """The sentence a read-only page and a refusal show for `permission`, in the active language."""
    sentence, name = NEEDS[permission]
    return sentence % {"permission": name}


def may(user, permission: str) -> bool:
    """Whether `user` may do what `permission` names: active staff holding it."""
    return is_active_staff(user) and user.has_perm(permission)


def require(user, permission: str) -> None:
    """Raise PermissionDenied (a 403 whose page or htmx fragment says why) unless `may`."""
    if not may(user, permission):
        raise PermissionDenied(needs(permission))
