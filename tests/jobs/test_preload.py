"""Every library imported late is loaded before any thread starts (see testigo/preload.py)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import testigo
from testigo.preload import LATE_IMPORTS, preload_libraries

# Late imports that only ever run before any thread exists, or in a single-threaded command.
SINGLE_THREADED = {
    "alembic",  # migrations, at open before the server starts
    "alembic.config",
    "rich.markup",  # CLI output
    "rich.table",
    "uvicorn",  # `testigo serve`, in its main thread
    "sqlalchemy.engine",  # loaded by every module that uses the database
    "sqlalchemy.orm",
    "botocore.exceptions",  # `testigo backup` / `restore`, commands of their own
}


def late_imports() -> dict[str, set[str]]:
    """Third-party modules imported inside a function anywhere in the package."""
    found: dict[str, set[str]] = {}
    for path in Path(testigo.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if id(node) in typing_only:
                    continue
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top != "testigo" and top not in sys.stdlib_module_names:
                        found.setdefault(name, set()).add(path.name)
    return found


def test_every_late_import_is_preloaded() -> None:
    found = late_imports()
    assert "rapidocr_onnxruntime" in found  # the scan sees the imports it must
    missing = {
        name: sorted(files)
        for name, files in found.items()
        if name not in LATE_IMPORTS and name not in SINGLE_THREADED
    }
    assert missing == {}, f"add these to testigo.preload.LATE_IMPORTS: {missing}"


def test_preload_imports_them() -> None:
    missing = preload_libraries()
    for name in LATE_IMPORTS:
        if name not in missing:
            assert name in sys.modules
    # The libraries the server's start-up raced on are installed in this project.
    assert "shapely" not in missing
    assert "rapidocr_onnxruntime" not in missing
