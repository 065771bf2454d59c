"""Django's `{# #}` comments end on the line they start; one spanning lines is printed as text. Every
template's single-line comments close on their line (longer ones use `{% comment %}`), checked on the
files themselves so the fast lane catches one before a browser does (tests/test_pages_browser.py looks
for template syntax in every rendered page)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.template.loaders.app_directories import get_app_template_dirs

UNCLOSED = re.compile(r"\{#(?!.*#\})")


def our_templates() -> list[Path]:
    folders = [Path(folder) for folder in settings.TEMPLATES[0]["DIRS"]]
    folders += [Path(folder) for folder in get_app_template_dirs("templates")
                if Path(folder).is_relative_to(settings.BASE_DIR) and ".venv" not in Path(folder).parts]
    return sorted(path for folder in folders for path in folder.rglob("*") if path.suffix in (".html", ".txt", ".xml"))


def test_no_template_comment_spans_lines():
    templates = our_templates()
    assert len(templates) > 40  # the site's own templates were found
    unclosed = [f"{path.relative_to(settings.BASE_DIR)}:{number}: {line.strip()[:80]}"
                for path in templates
                for number, line in enumerate(path.read_text().splitlines(), start=1) if UNCLOSED.search(line)]
    assert unclosed == []
