"""The docs stay true to the code: every setting is documented, no stale variable
is, the README stays a front door, and relative links lead somewhere.

Plain file checks: no Redis, no processes.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from longrun.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[1]
while not (ROOT / "pyproject.toml").is_file():  # wherever under tests/ this file sits
    ROOT = ROOT.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
README = ROOT / "README.md"
README_MAX_BYTES = 6 * 1024

# Where a variable that is read outside Settings shows up (code, scripts, compose).
SOURCE_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".toml", ".lua", ".example", ""}
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "var",
    "docs",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "build",
    "dist",
}
LONGRUN_VARIABLE = re.compile(r"\bLONGRUN_[A-Z0-9][A-Z0-9_]*[A-Z0-9]\b")
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def table_rows(text: str) -> dict[str, list[str]]:
    """First-column variable -> the row's cells, for every table row naming variables in backticks."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            rows.setdefault(name, cells)
    return rows


def documented_default(value: object) -> str:
    """How the page writes a default: numbers plainly (1.0 as 1), text as itself, "" as (empty)."""
    if value == "":
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def source_files() -> Iterator[Path]:
    """Every code, script and config file of the checkout, docs and this file left out."""
    for directory, subdirs, names in os.walk(ROOT):
        subdirs[:] = [name for name in subdirs if name not in SKIPPED_DIRS and not name.endswith(".egg-info")]
        for name in names:
            path = Path(directory) / name
            if path == Path(__file__).resolve() or path == README:
                continue
            if path.suffix in SOURCE_SUFFIXES or name in {"Makefile", "Dockerfile"}:
                yield path


def anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings (lower case, punctuation dropped, spaces as hyphens)."""
    ids: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"^#{1,6}\s+(.*)", line)):
            ids.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return ids


def markdown_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


SETTINGS = [(spec.name, env_name(spec.name), spec.default) for spec in fields(Settings)]


@pytest.fixture(scope="module")
def configuration_rows() -> dict[str, list[str]]:
    return table_rows(CONFIGURATION.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("field_name", "variable", "default"), SETTINGS, ids=[name for name, _, _ in SETTINGS])
def test_every_setting_has_a_row_with_its_default(
    configuration_rows: dict[str, list[str]], field_name: str, variable: str, default: object
) -> None:
    assert default is not MISSING, f"Settings.{field_name} has no default to document"
    row = configuration_rows.get(variable)
    assert row is not None, f"docs/configuration.md has no table row for {variable} (Settings.{field_name})"
    assert len(row) >= 3 and row[2].strip(), f"{variable}: its row has no meaning column"
    written = row[1].replace("`", "")
    # The value, then nothing or a remark: "86400 (24 h)", "0: one per CPU" (but 10 is not 1).
    assert re.match(re.escape(documented_default(default)) + r"(?![\w.])", written), (
        f"{variable}: docs/configuration.md says the default is {row[1]!r}, Settings says {default!r}"
    )


def named_on(pages: list[Path]) -> set[str]:
    return {name for page in pages for name in LONGRUN_VARIABLE.findall(page.read_text(encoding="utf-8"))}


def test_every_longrun_variable_the_docs_name_still_exists() -> None:
    settings_variables = {variable for _, variable, _ in SETTINGS}
    named = named_on(markdown_pages()) - settings_variables
    assert named, "expected the docs to name variables read outside Settings too"
    read_somewhere: set[str] = set()
    for path in source_files():
        read_somewhere |= set(LONGRUN_VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")))
    stale = sorted(named - read_somewhere)
    assert not stale, f"the docs name variables nothing in the tree uses any more: {stale}"


def test_every_longrun_variable_the_docs_name_is_in_the_reference() -> None:
    missing = sorted(named_on(markdown_pages()) - named_on([CONFIGURATION]))
    assert not missing, f"named in README.md or docs/ but not in docs/configuration.md: {missing}"


def test_readme_is_a_front_door() -> None:
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_MAX_BYTES})"


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings_that_exist(page: Path) -> None:
    broken = []
    for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files or headings: {broken}"


def test_the_link_checker_sees_links() -> None:
    """Guards the regex: a link-free docs tree would make the test above pass vacuously."""
    assert "docs/configuration.md" in MARKDOWN_LINK.findall(README.read_text(encoding="utf-8"))
