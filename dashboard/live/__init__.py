"""Live task machinery (the generic non-blocking channel-layer publisher is site_config/publisher.py,
so that any app may push to a group without importing the dashboard) shared by every app's tasks.

- tasks.LiveTask: the Celery base class (wired as task_cls), with report_progress()
- views: TaskView, one task's state as the templates need it, from a row or from memory
- fragments: renders the HTML that pages show and websockets push (same templates)
- signals: the PENDING row at publish time, revocations
"""
