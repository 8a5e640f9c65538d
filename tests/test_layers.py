"""The shape of the code, checked: one-way layers (import-linter, the same contract `make test` runs),
imports inside functions only where a heavy dependency is kept off a start-up path, no print in the
library, and no command probing a task with hasattr."""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "tixel"


def sources():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter is not installed (pip install -e '.[dev]')")
def test_layers_run_one_way():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-3000:]


def test_imports_of_tixel_inside_functions_are_few_and_commented():
    found = []
    for path in sources():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                    if (module or "").startswith("tixel"):
                        found.append((path.relative_to(ROOT), inner.lineno, "#" in lines[inner.lineno - 1]))
    assert len(found) <= 10, found
    assert all(commented for *_, commented in found), [f for f in found if not f[2]]


def test_no_print_in_the_library():
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in sources() if p.name != "cli.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"(?<![\w.])print\(", line)]
    assert not offenders, offenders


def test_no_capability_probing():
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in sources()
                 for i, line in enumerate(p.read_text().splitlines(), 1) if "hasattr(task" in line or "hasattr(self.task" in line]
    assert not offenders, offenders
