"""The core and the radios never import Home Assistant, nor the glue that does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "custom_components" / "resilient_gateway"
HA_FREE = ("core", "radios")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) of every import in a file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def _ha_free_files() -> list[Path]:
    return sorted(path for folder in HA_FREE for path in (PACKAGE / folder).rglob("*.py"))


def test_there_is_something_to_check() -> None:
    assert len(_ha_free_files()) >= 5


@pytest.mark.parametrize("path", _ha_free_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_homeassistant_import(path: Path) -> None:
    for module, level in _imports(path):
        assert not (level == 0 and module.split(".")[0] == "homeassistant"), (
            f"{path.relative_to(PACKAGE)} imports {module}"
        )
        # A relative import may not climb out of core/radios into the glue modules.
        depth = len(path.relative_to(PACKAGE).parts) - 1  # folders below the package
        if level > depth:
            assert module.split(".")[0] in HA_FREE, (
                f"{path.relative_to(PACKAGE)} imports the glue module {module}"
            )


def test_the_check_catches_an_offender(tmp_path: Path) -> None:
    offender = tmp_path / "bad.py"
    offender.write_text("from homeassistant.core import HomeAssistant\nfrom ...const import X\n")
    assert ("homeassistant.core", 0) in _imports(offender)
    assert ("const", 3) in _imports(offender)
