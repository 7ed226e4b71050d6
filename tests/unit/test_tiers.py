"""The test tiers: every test module lives in tests/unit, tests/integration or tests/e2e,
module names are unique across them (pytest imports each by its basename, with its
folder on sys.path), and unit modules neither start processes nor import the ZenML
steps and pipelines, nor ask for the ZenML stack that pipeline runs use."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "e2e")
# what a unit test may not import: process spawning, the ZenML project, a browser
FORBIDDEN = ("subprocess", "multiprocessing", "steps", "pipelines", "playwright")


def modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def test_every_test_module_is_in_a_tier():
    outside = [
        p.relative_to(TESTS).as_posix()
        for p in modules()
        if p.parent.parent != TESTS or p.parent.name not in TIERS
    ]
    assert not outside, f"test modules outside tests/{{{','.join(TIERS)}}}/: {outside}"


def test_module_names_are_unique_across_tiers():
    counts = Counter(p.name for p in modules())
    assert not [name for name, n in counts.items() if n > 1]


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_unit_modules_start_no_process_and_run_no_pipeline():
    for path in sorted((TESTS / "unit").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        imported = imported_roots(tree) & set(FORBIDDEN)
        assert not imported, f"{path.name} imports {sorted(imported)}: not a unit test"
        stack = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            and "zenml_stack" in {a.arg for a in node.args.args}
        ]
        assert not stack, f"{path.name}: {stack} use the ZenML stack: not unit tests"


def test_the_longest_first_order_names_existing_test_files():
    """A renamed or moved file would silently lose its place at the front of the
    parallel run's queue (tests/conftest.py)."""
    from conftest import LONGEST_FIRST

    missing = [path for path in LONGEST_FIRST if not (TESTS / path).is_file()]
    assert not missing, missing
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
