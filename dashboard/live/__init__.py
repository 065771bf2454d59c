"""Live task machinery shared by every app's tasks.

- tasks.LiveTask: the Celery base class (wired as task_cls), with report_progress()
- publisher: sends channel-layer messages from sync code without blocking, latest state wins
- views: TaskView, one task's state as the templates need it, from a row or from memory
- fragments: renders the HTML that pages show and websockets push (same templates)
- signals: the PENDING row at publish time, revocations
"""
