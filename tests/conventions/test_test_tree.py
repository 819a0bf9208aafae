"""The test tree keeps the shape that makes it readable: test files in area
folders with unique names, helpers imported from tests.support (never from
conftest or a plugin), and Redis keys named through longrun.keys."""

import ast
from collections import Counter
from pathlib import Path

from longrun import keys
from tests.support.paths import ROOT

TESTS = ROOT / "tests"
# How the keys Longrun and Celery write begin; longrun/keys.py is where they are named.
RAW_KEY_PREFIXES = (keys.PREFIX, keys.CELERY_META_PREFIX)


def all_test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def python_files_of_tests_and_bench() -> list[Path]:
    return sorted([*TESTS.rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def test_every_test_file_is_in_an_area_package_and_its_name_is_unique():
    files = all_test_files()
    assert files, "no test files found"
    outside = [str(f.relative_to(ROOT)) for f in files if f.parent == TESTS or not (f.parent / "__init__.py").exists()]
    assert outside == [], "test files belong in an area folder with an __init__.py (tests/<area>/)"
    repeated = [name for name, count in Counter(f.name for f in files).items() if count > 1]
    assert repeated == []


def test_helpers_are_imported_from_tests_support_not_from_conftest_or_plugins():
    offenders = []
    for path in python_files_of_tests_and_bench():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in ("conftest", "plugins") or name.startswith(("tests.conftest", "tests.plugins"))
            ]
    assert offenders == []


def test_no_test_or_bench_spells_out_a_redis_key():
    offenders = []
    for path in python_files_of_tests_and_bench():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and node.value.startswith(RAW_KEY_PREFIXES):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == [], "use longrun.keys"
