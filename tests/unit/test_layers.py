"""The layer rules hold, and the check that enforces them fails on a wrong-way import.

import-linter reads the contracts in pyproject.toml ([tool.importlinter]): cli -> api -> runtime ->
services -> vision | store -> core, SQL only in the store, Ray only in the cluster runtime. The planted
tests copy the package, add one forbidden import and expect the same command to fail, so a contract
that stopped checking anything would fail here too.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=project, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"})


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "watchnet", project / "watchnet",
                    ignore=shutil.ignore_patterns("__pycache__", "web", "*.npz", "*.yaml", "*.md"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("watchnet/store/planted.py", "import watchnet.services.watchlist\n", "Layers"),
    ("watchnet/core/planted.py", "from watchnet.vision.analysis import faces\n", "Layers"),
    ("watchnet/vision/planted.py", "import watchnet.store.db\n", "Layers"),
    ("watchnet/api/routes/planted.py", "import sqlalchemy as sa\n", "SQL lives in the store"),
    ("watchnet/services/planted.py", "import ray\n", "Ray is an optional extra"),
])
def test_a_planted_wrong_way_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    project = copy_project(tmp_path)
    (project / module).write_text(f'"""Planted by the test."""\n\n{line}')
    done = lint_imports(project)
    assert done.returncode != 0, done.stdout[-3000:]
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken, broken[-3000:]


#: A statement, connection or transaction call: ``engine.connect()``, ``conn.execute(...)``, ``sa.select`` ...
SQL_CALLS = re.compile(r"\b(engine|conn|connection)\.(connect|begin|execute|execution_options)\(|\bsa\.[a-z_]+\(")


def test_no_sql_statement_outside_the_store() -> None:
    """What the issue greps for: no SQLAlchemy import and no statement, connection or transaction call outside
    watchnet/store (services scope their work with ``store.db.read_connection``/``write_transaction``)."""
    offenders = []
    for path in sorted((ROOT / "watchnet").rglob("*.py")):
        if path.is_relative_to(ROOT / "watchnet" / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if SQL_CALLS.search(line.split("#")[0])]
    assert offenders == []
