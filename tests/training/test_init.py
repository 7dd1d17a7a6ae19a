"""The public surface: every exported name resolves, and the loop does not know Optuna."""

from __future__ import annotations

import ast
from pathlib import Path

from spectune import training


def test_all_names_resolve():
    assert sorted(training.__all__) == sorted(set(training.__all__))
    for name in training.__all__:
        assert getattr(training, name) is not None


def test_training_never_imports_optuna_or_tuning():
    imported = set()
    for path in Path(training.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert imported and not {m for m in imported if m.startswith(("optuna", "spectune.tuning"))}
