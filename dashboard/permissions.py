"""The dashboard's named permissions and the one check that pages, POSTs and sockets share
(on top of the one "active staff" check, site_config/machinery/staff.py).

Looking at the dashboard is for active staff; every action that changes something needs its own
permission, granted in the admin to a user or a group (superusers hold them all). A page shows
staff without the permission a read-only view that says which permission is needed; the server
refuses their POSTs with a 403 saying the same. docs/security.md "Who may read and do what" lists them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

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

#: What a read-only page and a refusal say: the action, and the permission as the admin names it.
NEEDS = {
    ACT_ON_TASKS: "Retrying, revoking and terminating tasks needs the permission "
                  "“Can retry, revoke and terminate tasks from the dashboard”.",
    DECIDE_COMMENTS: "Deciding comments needs the permission “Can decide comments (approve, reject, mark as spam)”.",
    RESEND_EMAIL: "Sending a failed email again needs the permission “Can send failed emails again”.",
    START_DEMO_JOB: "Starting the demo job needs the permission “Can start the demo job”.",
    EXPORT_DATA: "Exporting needs the permission “Can export tasks, the moderation queue and comments as CSV”.",
    SEND_ANNOUNCEMENT: "Sending, pausing and resuming announcements needs the permission "
                       "“Can send announcements to all members”.",
    CHANGE_SCHEDULES: "Changing or running schedules needs the permission “Can change periodic task”.",
    ADD_SCHEDULES: "Creating or duplicating schedules needs the permission “Can add periodic task”.",
    DELETE_SCHEDULES: "Deleting schedules needs the permission “Can delete periodic task”.",
    PURGE_QUEUE: "Purging a queue needs the permission “Can purge a queue (its waiting tasks are revoked)”.",
    ADD_POSTS: "Writing a post needs the permission “Can add post”.",
    CHANGE_POSTS: "Editing a post needs the permission “Can change post”.",
    RESIZE_WORKER_POOL: "Growing or shrinking a pool needs the permission “Can grow and shrink a worker's pool”.",
    AUTOSCALE_WORKERS: "Changing autoscale needs the permission “Can change a worker's autoscale range”.",
    CHANGE_WORKER_QUEUES: "Adding or cancelling a consumer needs the permission "
                          "“Can make a worker consume from a queue or stop consuming”.",
    SET_TASK_RATE_LIMIT: "Setting a rate limit needs the permission “Can set a task's rate limit on the workers”.",
    SET_TASK_TIME_LIMIT: "Setting time limits needs the permission “Can set a task's soft and hard time limits on the workers”.",
    SHUT_DOWN_WORKERS: "Shutting down workers needs the permission “Can shut down workers”.",
    RESTART_WORKER_POOL: "Restarting a pool needs the permission “Can restart a worker's pool”.",
    RUN_TASK: "Running a task needs the permission “Can run any registered task with chosen arguments”.",
}


def may(user, permission: str) -> bool:
    """Whether `user` may do what `permission` names: active staff holding it."""
    return is_active_staff(user) and user.has_perm(permission)


def require(user, permission: str) -> None:
    """Raise PermissionDenied (a 403 whose page or htmx fragment says why) unless `may`."""
    if not may(user, permission):
        raise PermissionDenied(NEEDS[permission])
