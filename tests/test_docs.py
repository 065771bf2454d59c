"""The docs agree with the code: every environment variable has one row in docs/configuration.md,
no row names a variable nothing reads, and the README stays a short front door whose links work.

Where variables are read (the scope of "every environment variable"):
- Python under site_config/, dashboard/, blog/ and weather/ (settings, launchers, management
  commands), where a literal name is the first argument of a read: `os.environ.get("X")`,
  `os.getenv("X")`, `os.environ["X"]`, `"X" in os.environ`; `.get("X")` / `["X"]` on a mapping
  named `env` or `environ` (the launchers copy the environment into `env` before reading it); a
  helper named `env` or `env_*` (`env_str`, `env_bool`, `env_int`, `env_float`, `env_list`,
  `env_rate`, ...); and any function in scope that hands its first parameter to one of these (a
  wrapper such as a URL checker), whatever its name. `setdefault` and assignments are writes, not
  reads, and `PATH` is the system's.
- The Procfile: `$X` and `${X:-default}`.
- The Makefile: variables assigned with `?=`, which the environment overrides.
tests/ and bench/ are out of scope: their knobs are for whoever runs them, documented where used.

Needs no database, Redis or network: it reads files only.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
PYTHON_SCOPE = ("site_config", "dashboard", "blog", "weather")
NOT_CONFIGURATION = {"PATH"}
README_MAX_LINES = 250

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ENV_HELPER = re.compile(r"^env(_\w+)?$")
_ENV_MAPPINGS = {"env", "environ"}


def _literal_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _NAME.match(node.value):
        return node.value
    return None


def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, or a mapping named `env` / `environ` (a copy of the environment)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in _ENV_MAPPINGS


def _read_key(node: ast.AST, helpers: set[str]) -> ast.AST | None:
    """The expression naming the variable when `node` reads the environment, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if (
            _ENV_HELPER.match(callee) or callee in helpers or callee == "getenv"
            or (callee == "get" and isinstance(func, ast.Attribute) and _is_environ(func.value))
        ):
            return node.args[0]
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
        return node.slice
    elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops):
        if any(_is_environ(comparator) for comparator in node.comparators):
            return node.left
    return None


def env_wrappers(trees: list[ast.AST]) -> set[str]:
    """Functions that read the variable named by their first parameter (directly or through another
    such function): calls of them with a literal name are reads too."""
    helpers: set[str] = set()
    functions = [node for tree in trees for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.args.args]
    while True:
        found = {
            function.name for function in functions
            if function.name not in helpers and any(
                isinstance(key := _read_key(node, helpers), ast.Name) and key.id == function.args.args[0].arg
                for node in ast.walk(function)
            )
        }
        if not found:
            return helpers
        helpers |= found


def python_reads(source: str | ast.AST, helpers: set[str] = frozenset()) -> set[str]:
    """Names of the environment variables one Python module reads (see the module docstring)."""
    tree = ast.parse(source) if isinstance(source, str) else source
    names = {name for node in ast.walk(tree) if (name := _literal_name(_read_key(node, helpers)))}
    return names - NOT_CONFIGURATION


def procfile_reads(text: str) -> set[str]:
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text)) - NOT_CONFIGURATION


def makefile_reads(text: str) -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*\?=", text, flags=re.MULTILINE))


def variables_read() -> dict[str, set[str]]:
    """Each variable read in scope, with the files that read it."""
    found: dict[str, set[str]] = {}

    def add(names: set[str], where: Path) -> None:
        for name in names:
            found.setdefault(name, set()).add(str(where.relative_to(ROOT)))

    paths = [path for package in PYTHON_SCOPE for path in sorted((ROOT / package).rglob("*.py"))
             if "migrations" not in path.parts]
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in paths}
    helpers = env_wrappers(list(trees.values()))
    for path, tree in trees.items():
        add(python_reads(tree, helpers), path)
    add(procfile_reads((ROOT / "Procfile").read_text(encoding="utf-8")), ROOT / "Procfile")
    add(makefile_reads((ROOT / "Makefile").read_text(encoding="utf-8")), ROOT / "Makefile")
    return found


def configuration_rows() -> list[str]:
    """The variable of each row of the `| variable | default | meaning |` tables, in order."""
    rows, in_table = [], False
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            in_table = False
        elif cells[:3] == ["variable", "default", "meaning"]:
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            rows.append(cells[0])
    return rows


def test_the_scan_finds_reads_in_every_form_it_claims():
    source = (
        'import os\n'
        'A = env_int("ALPHA", 1)\n'
        'B = os.environ.get("BRAVO")\n'
        'C = os.environ["CHARLIE"]\n'
        'D = "DELTA" in os.environ\n'
        'E = env.get("ECHO", "1")\n'
        'F = os.getenv("FOXTROT")\n'
        'os.environ.setdefault("NOT_READ", "x")\n'
        'env["ALSO_NOT_READ"] = "1"\n'
        'G = env.get("PATH", "")\n'
        'H = settings.get("HOTEL")\n'
        'def redis_url_checked(name, default):\n'
        '    return env_str(name, "") or default\n'
        'def cache_url(variable):\n'
        '    return redis_url_checked(variable, "redis://")\n'
        'I = cache_url("INDIA")\n'
        'J = format_name("JULIET")\n'
    )
    tree = ast.parse(source)
    helpers = env_wrappers([tree])
    assert helpers == {"redis_url_checked", "cache_url"}
    assert python_reads(tree, helpers) == {"ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "INDIA"}
    assert procfile_reads("web: daphne --port ${PORT:-8000} --x $DYNO") == {"PORT", "DYNO"}
    assert makefile_reads("VENV := .venv\nTEST_URL ?= x\n") == {"TEST_URL"}


def test_every_row_is_one_variable_in_backticks():
    rows = configuration_rows()
    assert len(rows) > 50, "docs/configuration.md's tables were not found"
    malformed = [row for row in rows if not re.fullmatch(r"`[A-Z][A-Z0-9_]*`", row)]
    assert not malformed, f"one variable per row, in backticks: {malformed}"


def test_every_variable_the_code_reads_has_exactly_one_row():
    rows = Counter(row.strip("`") for row in configuration_rows())
    read = variables_read()
    missing = {name: sorted(where) for name, where in sorted(read.items()) if rows[name] == 0}
    twice = sorted(name for name, count in rows.items() if count > 1)
    assert not missing, f"read by the code, no row in docs/configuration.md: {missing}"
    assert not twice, f"more than one row in docs/configuration.md: {twice}"


def test_every_row_names_a_variable_the_code_reads():
    read = variables_read()
    stale = sorted({row.strip("`") for row in configuration_rows()} - set(read))
    assert not stale, f"rows in docs/configuration.md for variables nothing reads: {stale}"


def test_no_other_page_keeps_a_table_of_variables():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    header = re.compile(r"^\|\s*variable\s*\|", re.MULTILINE)
    others = [
        str(page.relative_to(ROOT)) for page in pages
        if page != CONFIGURATION and header.search(page.read_text(encoding="utf-8"))
    ]
    assert not others, f"variables belong in docs/configuration.md only: {others}"


def test_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; reference material belongs in docs/"


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [target for target in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def _anchors(page: Path) -> set[str]:
    """GitHub's ids for the page's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_relative_links_in_the_readme_and_docs_point_to_files_and_headings_that_exist():
    broken = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in _relative_links(page):
            path, _, anchor = target.partition("#")
            linked = page.parent / path if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, f"links to missing files or headings: {broken}"
    assert _relative_links(README), "the README links to the docs pages"
