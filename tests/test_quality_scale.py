"""quality_scale.yaml in the form Home Assistant core checks (hassfest skips custom
integrations, so nothing else does): every rule, each with an honest status."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

INTEGRATION = Path(__file__).parents[1] / "custom_components/resilient_gateway"

# The rules of Home Assistant's integration quality scale, bronze to platinum.
RULES = {
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow",
    "config-flow-test-coverage",
    "dependency-transparency",
    "docs-actions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
    "devices",
    "diagnostics",
    "discovery",
    "discovery-update-info",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
    "async-dependency",
    "inject-websession",
    "strict-typing",
}
# Rules newer core files also state.
OPTIONAL_RULES = {"docs-conditions", "docs-triggers"}


def rules() -> dict[str, Any]:
    data = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"rules"}
    result: dict[str, Any] = data["rules"]
    return result


def status(value: Any) -> str:
    return value if isinstance(value, str) else str(value["status"])


def test_every_rule_has_a_status_and_what_is_not_done_says_why() -> None:
    stated = rules()
    assert RULES <= set(stated) <= RULES | OPTIONAL_RULES
    for rule, value in stated.items():
        assert status(value) in {"done", "todo", "exempt"}, rule
        if status(value) != "done":
            assert isinstance(value, dict) and value.get("comment", "").strip(), rule


def test_parallel_updates_is_stated_by_every_platform() -> None:
    """The one claim a file can prove: each platform module sets PARALLEL_UPDATES."""
    assert status(rules()["parallel-updates"]) == "done"
    platforms = importlib.import_module("custom_components.resilient_gateway").PLATFORMS
    for platform in platforms:
        module = importlib.import_module(f"custom_components.resilient_gateway.{platform.value}")
        assert isinstance(getattr(module, "PARALLEL_UPDATES", None), int), platform
