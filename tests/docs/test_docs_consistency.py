"""The documentation cannot drift from the repository: every relative link and anchor of README.md and docs/*.md
resolves, the operators' configuration table names exactly the variables the code reads (each one also in
.env.example), every page of docs/ and every screenshot is reachable from the README, and nothing outside the
tests points at files the repository does not hold."""

import ast
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from fido.env_checks import CHECKS

BASE_DIR = Path(__file__).resolve().parents[2]
README = BASE_DIR / "README.md"
DOCS_DIR = BASE_DIR / "docs"
OPERATORS = DOCS_DIR / "operators.md"
ENV_EXAMPLE = BASE_DIR / ".env.example"
# Where the service's processes read their environment: every module of the project and the gunicorn configuration.
ENV_READERS = ("fido", "transactions", "analytics", "deploy/gunicorn.conf.py")
# Read by the Makefile (`make run` gives it to the demo logins), not by the service: the one exception.
READ_BY_MAKEFILE = {"DEMO_ADMIN_PASSWORD"}
# Names the docs mention in backticks that belong to other software, not to a file of this repository.
FOREIGN_NAMES = {"APPEND_SLASH", "DISABLE_SERVER_SIDE_CURSORS"}
GIT = shutil.which("git") or "/usr/bin/git"
# What the repository must never point at: files that live outside it.
OUTSIDE_REFERENCE = re.compile(r"\.\./shared/|SPEC §|SPEC\.md|DESIGN\.md|STYLE\.md")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
SETTING_LIKE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML shows nothing of its tags
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit anchors."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image of a page, code spans and blocks left out."""
    found = []
    for number, line in prose_lines(path):
        text = INLINE_CODE.sub("", line)
        found += [(number, target) for target in LINK.findall(text)]
        reference = REFERENCE_LINK.match(text)
        if reference:
            found.append((number, reference.group(1)))
    return found


def broken_link(page: Path, target: str) -> str | None:
    """Why a link of `page` does not resolve inside the repository; None when it does."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return None  # http(s), mailto: not a file of the repository
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    if not destination.is_relative_to(BASE_DIR):
        return "points outside the repository"
    if not destination.exists():
        return "no such file"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading with the anchor #{anchor} in {destination.relative_to(BASE_DIR)}"
    return None


@pytest.mark.parametrize("page", doc_files(), ids=lambda page: str(page.relative_to(BASE_DIR)))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for number, target in links(page):
        problem = broken_link(page, target)
        if problem:
            broken.append(f"{page.relative_to(BASE_DIR)}:{number}: {target}: {problem}")

    assert broken == []


def test_the_link_checker_can_fail(tmp_path):
    page = DOCS_DIR / "architecture.md"

    assert broken_link(page, "no-such-page.md") == "no such file"
    assert broken_link(page, "../../shared/SPEC.md") == "points outside the repository"
    assert broken_link(page, "#no-such-heading") is not None
    assert broken_link(README, "docs/api.md#no-such-heading") is not None
    assert slug("Scaling to millions of users") == "scaling-to-millions-of-users"
    assert slug("Filters, order and pages") == "filters-order-and-pages"
    assert slug("`seed_demo`: demo data — fast") == "seed_demo-demo-data--fast"


def test_every_page_of_docs_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}

    assert [page.name for page in sorted(DOCS_DIR.glob("*.md")) if page.resolve() not in linked] == []


def test_every_screenshot_is_shown_by_a_page():
    shown = {(page.parent / target.partition("#")[0]).resolve() for page in doc_files() for _, target in links(page)}

    assert [shot.name for shot in sorted((DOCS_DIR / "screenshots").glob("*.png")) if shot.resolve() not in shown] == []


def test_the_readme_fits_on_a_few_screens():
    assert len(README.read_text().splitlines()) <= 200


# --- Environment variables --------------------------------------------------------------------------------------


def configuration_table() -> set[str]:
    """The variables of the operators' configuration table: the first table under the heading "Configuration"."""
    rows, in_section = [], False
    for _, line in prose_lines(OPERATORS):
        heading = HEADING.match(line)
        if heading:
            if in_section and rows:
                break
            in_section = heading.group(2).strip().lower() == "configuration"
            continue
        if in_section and line.startswith("|"):
            rows.append(line)
        elif in_section and rows:
            break
    assert rows, "docs/operators.md has no table under a heading 'Configuration'"
    names = set()
    for row in rows[2:]:  # the header and the separator
        first_cell = row.strip("|").split("|")[0]
        names |= {code for _, code in INLINE_CODE.findall(first_cell) if VARIABLE.match(code)}
    return names


def _constant_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to a string (such as `METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"`)."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _is_environ(node: ast.expr) -> bool:
    return ast.unparse(node) == "os.environ"


def _is_env_lookup(node: ast.expr) -> bool:
    """`env.<cast>`, `os.environ.get`, `os.getenv`: what reads one variable, given its name first."""
    if not isinstance(node, ast.Attribute):
        return False
    if isinstance(node.value, ast.Name):
        return node.value.id == "env" or (node.value.id == "os" and node.attr == "getenv")
    return _is_environ(node.value) and node.attr == "get"


def variables_read_by(path: Path) -> set[str]:
    """The environment variables a Python file reads, by name: through an env lookup, `os.environ[...]`, or a
    function of the file that hands its first parameter to one (such as settings' `_required`)."""
    tree = ast.parse(path.read_text())
    constants = _constant_strings(tree)

    def name_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    def reads_first_parameter(function: ast.FunctionDef) -> bool:
        if not function.args.args:
            return False
        parameter = function.args.args[0].arg
        return any(
            isinstance(call, ast.Call)
            and _is_env_lookup(call.func)
            and call.args
            and isinstance(call.args[0], ast.Name)
            and call.args[0].id == parameter
            for call in ast.walk(function)
        )

    readers = {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and reads_first_parameter(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if _is_env_lookup(func) or (isinstance(func, ast.Name) and func.id in readers):
                found.add(name_of(node.args[0]))
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            found.add(name_of(node.slice))
    return {name for name in found if name and VARIABLE.match(name)}


@cache
def variables_read() -> frozenset[str]:
    """Every variable the service's processes read or check at start-up (fido/env_checks.py)."""
    names = set(CHECKS)
    for reader in ENV_READERS:
        location = BASE_DIR / reader
        for path in sorted(location.rglob("*.py")) if location.is_dir() else [location]:
            if "migrations" not in path.parts:
                names |= variables_read_by(path)
    return frozenset(names)


def env_example() -> set[str]:
    """The variables .env.example lists, set or commented out."""
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_the_reader_finds_each_way_the_code_reads_a_variable(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\n"
        'DIR = "SOME_DIR"\n'
        "def _required(name, default):\n"
        "    return env.str(name, default=default)\n"
        'A = env.int("A_NUMBER", default=1)\n'
        'B = _required("A_SECRET", "x")\n'
        'C = os.environ.get("A_PORT", "8000")\n'
        "D = os.environ[DIR]\n"
        'os.environ.setdefault("NOT_READ", "x")\n'
        "E = os.getenv('AN_OPTION')\n"
    )

    assert variables_read_by(module) == {"A_NUMBER", "A_SECRET", "A_PORT", "SOME_DIR", "AN_OPTION"}


def test_every_variable_of_the_configuration_table_is_read_by_the_code():
    unread = configuration_table() - variables_read() - READ_BY_MAKEFILE

    assert unread == set()


def test_every_variable_the_code_reads_is_in_the_configuration_table():
    assert variables_read() - configuration_table() == set()


def test_every_variable_of_the_configuration_table_is_in_env_example_and_the_reverse():
    table, example = configuration_table(), env_example()

    assert (table - example, example - table) == (set(), set())


def test_the_one_variable_read_outside_the_code_is_read_by_the_makefile():
    makefile = (BASE_DIR / "Makefile").read_text()

    assert configuration_table() >= READ_BY_MAKEFILE
    assert all(re.search(rf"\^{name}=|\b{name}\b", makefile) for name in READ_BY_MAKEFILE)
    assert READ_BY_MAKEFILE.isdisjoint(variables_read())


@cache
def tracked_files() -> tuple[str, ...]:
    """The repository's files, as git lists them (a checkout's .venv, .env or database are not the repository's)."""
    listed = subprocess.run([GIT, "ls-files"], cwd=BASE_DIR, capture_output=True, text=True, check=True)  # noqa: S603
    return tuple(name for name in listed.stdout.splitlines() if (BASE_DIR / name).is_file())


@cache
def repository_text() -> str:
    """Every tracked file of the repository but the Markdown pages and images, as one text (to find a name in)."""
    names = [name for name in tracked_files() if Path(name).suffix not in {".md", ".png"}]
    return "\n".join((BASE_DIR / name).read_text(errors="replace") for name in names)


def test_every_setting_or_variable_the_docs_name_exists():
    # A name such as `ANALYTICS_CACHE_TTL` written in the docs must be one the repository knows: a typo, or a
    # variable that was renamed or removed, fails here.
    known = repository_text()
    unknown = set()
    for page in doc_files():
        for number, line in prose_lines(page):
            for _, code in INLINE_CODE.findall(line):
                for name in re.findall(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+", code):
                    if SETTING_LIKE.match(name) and name not in FOREIGN_NAMES and name not in known:
                        unknown.add(f"{page.relative_to(BASE_DIR)}:{number}: {name}")

    assert sorted(unknown) == []


# --- Nothing outside the repository -------------------------------------------------------------------------------


def test_nothing_outside_the_tests_points_outside_the_repository():
    found = []
    for name in tracked_files():
        if name.startswith("tests/") or name.endswith(".png"):
            continue
        for number, line in enumerate((BASE_DIR / name).read_text(errors="replace").splitlines(), start=1):
            if OUTSIDE_REFERENCE.search(line):
                found.append(f"{name}:{number}")

    assert found == []


# --- The map of the code, and what points into the docs ----------------------------------------------------------

ARCHITECTURE = DOCS_DIR / "architecture.md"
# The source files the map must name: code, templates and deployment files, outside the tests and migrations.
MAPPED = re.compile(r"\.(py|html|lua|conf|yml)$|^Dockerfile$|^Makefile$|^\.ci/run$")
DOC_REFERENCE = re.compile(r"(README|docs/[\w-]+\.md)(?:,\s*|\s*\(|\s+)\"([^\"]+)\"")
PATH_IN_CODE = re.compile(r"^[\w.-]+(?:/[\w.-]+)*/?$")


def test_the_architecture_map_names_every_module():
    text = ARCHITECTURE.read_text()

    def named(name: str) -> bool:
        if name in text:
            return True
        # Or a directory named with its trailing slash, and, for a module, its name (a command, a floor module).
        parents = [str(parent) + "/" for parent in Path(name).parents if str(parent) != "."]
        return any(parent in text for parent in parents) and (not name.endswith(".py") or Path(name).stem in text)

    candidates = [
        name
        for name in tracked_files()
        if MAPPED.search(name)
        and not name.startswith("tests/")
        and "/migrations/" not in name
        and not name.endswith("__init__.py")
    ]

    assert [name for name in candidates if not named(name)] == []


def ignored_by_git(name: str) -> bool:
    """A path the repository ignores on purpose: what a run writes (`loadtest/results/`), never committed."""
    return subprocess.run([GIT, "check-ignore", "-q", name], cwd=BASE_DIR, check=False).returncode == 0  # noqa: S603


def test_every_path_the_docs_name_exists():
    top_level = {name.split("/")[0] for name in tracked_files()}
    missing = []
    for page in doc_files():
        for number, line in prose_lines(page):
            for _, code in INLINE_CODE.findall(line):
                code = code.strip()
                is_path = PATH_IN_CODE.match(code) and "/" in code and code.split("/")[0] in top_level
                if is_path and not (BASE_DIR / code).exists() and not ignored_by_git(code):
                    missing.append(f"{page.relative_to(BASE_DIR)}:{number}: {code}")

    assert missing == []


def test_every_section_the_code_points_at_exists():
    # `docs/api.md ("Errors")`, `(docs/operators.md, "Health")`, `README "Deployment"`: the page and the heading.
    broken = []
    for name in tracked_files():
        if name.endswith((".md", ".png")) or name.startswith("tests/docs/"):
            continue
        for number, line in enumerate((BASE_DIR / name).read_text(errors="replace").splitlines(), start=1):
            for page_name, heading in DOC_REFERENCE.findall(line):
                page = README if page_name == "README" else BASE_DIR / page_name
                if not page.exists() or slug(heading) not in anchors(page):
                    broken.append(f"{name}:{number}: {page_name} {heading!r}")

    assert broken == []
