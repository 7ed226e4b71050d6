"""The library stands on its own: nothing under `islr/` imports the orchestrator (ZenML)
or the project's layers built on top of the library (steps, pipelines, the app).

The check parses every module instead of importing it, so it also sees imports inside
functions and ones that only run on some code paths, and it needs none of the heavy
dependencies installed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ISLR = Path(__file__).resolve().parents[2] / "islr"
FORBIDDEN = ("zenml", "steps", "pipelines", "app")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import anywhere in the tree, nested ones included;
    relative imports stay inside the package by definition."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def is_forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def test_the_checker_sees_nested_imports():
    tree = ast.parse(
        "import os\n"
        "def f():\n"
        "    from zenml import step\n"
        "    import steps.train\n"
        "class C:\n"
        "    def g(self):\n"
        "        import app.main as m\n"
        "from pipelines.main import main_pipeline\n"
        "import stepsize\n"
    )
    flagged = {module for _, module in imported_modules(tree) if is_forbidden(module)}
    assert flagged == {"zenml", "steps.train", "app.main", "pipelines.main"}


def test_the_library_imports_no_orchestrator_steps_pipelines_or_app():
    files = sorted(ISLR.rglob("*.py"))
    assert len(files) > 50, f"expected the islr package under {ISLR}"
    offending = [
        f"{path.relative_to(ISLR.parent)}:{line}: {module}"
        for path in files
        for line, module in imported_modules(ast.parse(path.read_text(), str(path)))
        if is_forbidden(module)
    ]
    assert not offending, (
        "islr/ must not import " + ", ".join(FORBIDDEN) + ":\n" + "\n".join(offending)
    )
