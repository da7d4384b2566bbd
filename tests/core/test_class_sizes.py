"""No class in the core grows into a room of its own: a class that does too much is split
(the gateway into values, inventory, re-confirmation, snapshots, run control...)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "custom_components" / "resilient_gateway" / "core"

MAX_CLASS_LINES = 400
"""The longest a class may be, docstrings and comments included (issue 13: "no class over
~400 lines in core/")."""


def class_lengths(root: Path = CORE) -> dict[str, int]:
    """``file:Class`` → its lines, for every class under ``root``."""
    lengths: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                name = f"{path.relative_to(root).as_posix()}:{node.name}"
                lengths[name] = node.end_lineno - node.lineno + 1
    return lengths


def test_no_class_in_the_core_is_too_long() -> None:
    lengths = class_lengths()
    assert "gateway.py:Gateway" in lengths
    too_long = {name: n for name, n in lengths.items() if n > MAX_CLASS_LINES}
    assert too_long == {}


def test_a_long_class_is_found(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_CLASS_LINES))
    (tmp_path / "big.py").write_text(f"class Big:\n{body}\n\n\nclass Small:\n    pass\n")
    assert class_lengths(tmp_path) == {"big.py:Big": MAX_CLASS_LINES + 1, "big.py:Small": 2}
