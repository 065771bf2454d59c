"""Demo content for a first run: posts, members, comments in every moderation state, a finished and
a failed task, and daily reports, so every page of a fresh `make run` shows something.

`services.demo_content_create()` does the work (`manage.py demo_content` calls it); `content.py`
holds the texts."""
